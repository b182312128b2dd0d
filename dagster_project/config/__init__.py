"""The config registry: per-org settings as events, their defaults, bounds and generated docs."""
