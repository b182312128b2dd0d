"""T2: the backoff schedule and the dead-letter rule (exact, plus properties)."""

from __future__ import annotations

import tempfile
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dagster_project.control import outbox, outbox_reports

from .conftest import T0, Clock, make_items


def test_schedule_is_exact() -> None:
    assert [outbox.backoff_minutes(n) for n in range(1, 11)] == [1, 2, 4, 8, 16, 32, 60, 60, 60, 60]
    assert [outbox.backoff_minutes(n, cap=10) for n in range(1, 6)] == [1, 2, 4, 8, 10]
    assert outbox.backoff_minutes(10**6) == 60


@pytest.mark.parametrize("bad", [0, -1])
def test_attempts_start_at_one(bad: int) -> None:
    with pytest.raises(ValueError):
        outbox.backoff_minutes(bad)


@settings(max_examples=500, deadline=None)
@given(attempt=st.integers(1, 10_000), cap=st.integers(1, 24 * 60))
def test_backoff_is_monotonic_and_capped(attempt: int, cap: int) -> None:
    delay = outbox.backoff_minutes(attempt, cap)
    assert 1 <= delay <= cap
    assert delay <= outbox.backoff_minutes(attempt + 1, cap)
    assert delay == min(cap, 2 ** (attempt - 1))


def _drive_to_death(path: Path, max_attempts: int, cap: int) -> list[tuple[str | None, timedelta | None]]:
    """Claim + fail one item until it dies; return (status, delay until due) per failure."""
    clock = Clock()
    outbox.enqueue(path, make_items(1), clock.now)
    key = ("acme", "e00000")
    seen: list[tuple[str | None, timedelta | None]] = []
    for _ in range(max_attempts + 2):
        claim = outbox.claim(path, now=clock.now, limit=5, worker="w")
        if not claim:
            break
        status = outbox.fail(
            path, claim.token, key, "boom", clock.now, max_attempts=max_attempts, cap_minutes=cap
        )
        row = outbox_reports.items(path, "acme")[0]
        due = outbox.from_text(row["next_attempt_at"]) - clock.now if status == "pending" else None
        seen.append((status, due))
        if due is not None:
            # one microsecond early: not due yet; then exactly due
            assert not outbox.claim(
                path, now=clock.now + due - timedelta(microseconds=1), limit=5, worker="w"
            )
            clock.advance(seconds=due.total_seconds())
    return seen


def test_dead_exactly_when_attempts_reach_max(db: Path) -> None:
    seen = _drive_to_death(db, max_attempts=8, cap=60)
    assert seen == [("pending", timedelta(minutes=m)) for m in (1, 2, 4, 8, 16, 32, 60)] + [("dead", None)]
    (letter,) = outbox_reports.dead_letters(db, "acme")
    assert letter.attempts == 8 and letter.last_error == "boom"


@settings(max_examples=15, deadline=None)
@given(max_attempts=st.integers(1, 9), cap=st.integers(1, 90))
def test_dead_exactly_at_max_property(max_attempts: int, cap: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        seen = _drive_to_death(Path(tmp) / "control.sqlite", max_attempts, cap)
    assert [s for s, _ in seen] == ["pending"] * (max_attempts - 1) + ["dead"]
    delays = [d for _, d in seen[:-1]]
    assert delays == [timedelta(minutes=outbox.backoff_minutes(n, cap)) for n in range(1, max_attempts)]


def test_claim_counts_as_attempt_even_without_fail(db: Path) -> None:
    """A worker that dies after claiming still used an attempt (it cannot crash-loop forever)."""
    outbox.enqueue(db, make_items(1), T0)
    assert outbox.claim(db, now=T0, limit=1, worker="w").items[0].attempts == 1
    assert outbox_reports.items(db, "acme")[0]["attempts"] == 1
