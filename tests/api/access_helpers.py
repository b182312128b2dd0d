"""Users and tokens for API tests, made the way `workstream users add` makes them."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

from dagster_project.access import add_user
from dagster_project.settings import FixedClock

# The clock every API test app runs on (tokens expire relative to it).
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
CLOCK = FixedClock(NOW)


def token_for(home: Path, email: str, role: str, orgs: Iterable[str] = (), **kwargs) -> str:
    """A new user's first token (the CLI prints it once)."""
    kwargs.setdefault("now", NOW)
    _principal, _token_id, token = add_user(home, email, role, tuple(orgs), **kwargs)
    return token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
