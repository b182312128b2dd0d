"""What the `workstream` CLI runs, one module per command family (cli.py parses and dispatches)."""
