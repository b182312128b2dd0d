"""The lifecycle engine: the guarded fold of one org's accepted events and its state store (pure, no I/O)."""
