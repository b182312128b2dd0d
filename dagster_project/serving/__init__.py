"""The published snapshot: publishing it, past-as-of snapshots, and reading it."""
