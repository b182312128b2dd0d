"""Outbox test fixtures: a control-store path and an injected clock (no sleeps for time)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

T0 = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


@dataclass
class Clock:
    """The injected clock: tests move it explicitly."""

    now: datetime = T0

    def advance(self, **delta: float) -> datetime:
        self.now = self.now + timedelta(**delta)
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "control.sqlite"


def make_items(n: int, org: str = "acme", start: datetime = T0, prefix: str = "e") -> list[dict]:
    """`n` contract-shaped items whose occurred_at increases with the index."""
    return [
        {
            "org_id": org,
            "event_id": f"{prefix}{i:05d}",
            "entity_type": "pursuit",
            "entity_id": f"p{i % 50}",
            "occurred_at": start - timedelta(days=1) + timedelta(seconds=i),
        }
        for i in range(n)
    ]
