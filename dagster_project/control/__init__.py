"""The control store (SQLite): ingest bookkeeping, the outbox, the run lock, crash points."""
