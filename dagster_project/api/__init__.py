"""The read-only HTTP API over the published snapshot (memory cards, search, the Today panel)."""

from dagster_project.api.app import create_app

__all__ = ["create_app"]
