"""The lifecycle engine: config registry and the guarded fold of one org's accepted events (pure, no I/O)."""
