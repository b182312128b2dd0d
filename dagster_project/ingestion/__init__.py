"""Ingest: read inbox files, validate each record against the contract, store, quarantine, count."""
