"""Enqueue, claim order, poison isolation, dead letters, retry and `outbox_health` numbers."""

from __future__ import annotations

import sqlite3
import threading
import time
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace

import pytest

from dagster_project.control import outbox, outbox_reports

from .conftest import T0, Clock, make_items


def test_enqueue_is_idempotent_by_org_and_event(db: Path, clock: Clock) -> None:
    items = make_items(5)
    assert outbox.enqueue(db, items + items[:2], clock.now) == 5  # duplicates inside one batch too
    assert outbox.enqueue(db, items, clock.advance(minutes=1)) == 0
    # same event_id in another org is another item (tenancy)
    assert outbox.enqueue(db, make_items(2, org="globex"), clock.now) == 2
    claim = outbox.claim(db, now=clock.now, limit=1, worker="w")
    outbox.complete(db, claim.token, claim.keys, clock.now)
    # re-enqueueing a processed item does not revive it
    assert outbox.enqueue(db, items, clock.advance(minutes=1)) == 0
    rows = outbox_reports.items(db, "acme")
    assert [r["status"] for r in rows] == ["processed"] + ["pending"] * 4
    assert {r["enqueued_at"] for r in rows} == {outbox.to_text(T0)}
    assert outbox.enqueue(db, [], clock.now) == 0


def test_times_are_fixed_width_utc_text(db: Path) -> None:
    ny = timezone(timedelta(hours=-5))
    item = make_items(1)[0] | {"occurred_at": "2026-11-27T07:00:00-05:00"}
    outbox.enqueue(db, [item], datetime(2026, 11, 28, 7, 0, tzinfo=ny))
    row = outbox_reports.items(db, "acme")[0]
    assert row["occurred_at"] == "2026-11-27T12:00:00.000000Z"
    assert row["enqueued_at"] == row["next_attempt_at"] == "2026-11-28T12:00:00.000000Z"
    claim = outbox.claim(db, now=T0, limit=1, worker="w")
    assert claim.items[0].occurred_at == datetime(2026, 11, 27, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    "bad",
    [{"occurred_at": "2026-11-27T07:00:00"}, {"occurred_at": datetime(2026, 11, 27)}],
)
def test_naive_times_are_refused(db: Path, bad: dict) -> None:
    with pytest.raises(ValueError):
        outbox.enqueue(db, [make_items(1)[0] | bad], T0)
    with pytest.raises(ValueError):
        outbox.claim(db, now=datetime(2026, 11, 28), limit=1, worker="w")


def test_claim_order_and_limit(db: Path, clock: Clock) -> None:
    outbox.enqueue(db, make_items(3, org="b"), clock.now)
    outbox.enqueue(db, make_items(3, org="a"), clock.now)
    outbox.enqueue(db, make_items(2, org="a", prefix="late"), clock.advance(seconds=1))
    first = outbox.claim(db, now=clock.now, limit=4, worker="w1")
    assert first.keys == [("a", "e00000"), ("a", "e00001"), ("a", "e00002"), ("b", "e00000")]
    assert all(i.attempts == 1 for i in first.items)
    second = outbox.claim(db, now=clock.now, limit=10, worker="w2")
    assert second.keys == [("b", "e00001"), ("b", "e00002"), ("a", "late00000"), ("a", "late00001")]
    assert second.token != first.token
    assert not outbox.claim(db, now=clock.now, limit=10, worker="w3")
    with pytest.raises(ValueError):
        outbox.claim(db, now=clock.now, limit=0, worker="w")


def test_items_not_yet_enqueued_are_not_due(db: Path) -> None:
    outbox.enqueue(db, make_items(1), T0)
    assert not outbox.claim(db, now=T0 - timedelta(microseconds=1), limit=1, worker="w")
    assert outbox.claim(db, now=T0, limit=1, worker="w")


def test_poison_item_does_not_block_others(db: Path, clock: Clock) -> None:
    """The poison item is first in line; it fails every time, yet all others finish at the same now."""
    outbox.enqueue(db, make_items(6), clock.now)
    poison = ("acme", "e00000")
    done: list[outbox.Key] = []
    for _ in range(20):
        claim = outbox.claim(db, now=clock.now, limit=1, worker="w")
        if not claim:
            break
        if claim.keys == [poison]:
            assert outbox.fail(db, claim.token, poison, "poison", clock.now) == "pending"
        else:
            done += outbox.complete(db, claim.token, claim.keys, clock.now)
    assert done == [("acme", f"e{i:05d}") for i in range(1, 6)]
    # later, the due retry comes before newer work that became due after it
    outbox.enqueue(db, make_items(1, prefix="new"), clock.advance(minutes=5))
    assert outbox.claim(db, now=clock.now, limit=1, worker="w").keys == [poison]


def test_fail_keeps_the_error_and_dead_letters_are_per_org(db: Path, clock: Clock) -> None:
    outbox.enqueue(db, make_items(2, org="acme") + make_items(1, org="globex"), clock.now)
    claim = outbox.claim(db, now=clock.now, limit=3, worker="w")
    for key in claim.keys:
        assert outbox.fail(db, claim.token, key, f"bad {key[0]}", clock.now, max_attempts=1) == "dead"
    acme = outbox_reports.dead_letters(db, "acme")
    assert [(d.org_id, d.event_id, d.last_error, d.attempts) for d in acme] == [
        ("acme", "e00000", "bad acme", 1),
        ("acme", "e00001", "bad acme", 1),
    ]
    assert acme[0].dead_at == clock.now
    assert [d.event_id for d in outbox_reports.dead_letters(db, "globex")] == ["e00000"]
    assert outbox_reports.dead_letters(db, "nobody") == []
    assert not outbox.claim(db, now=clock.advance(days=30), limit=10, worker="w")


def test_retry_dead_resets_attempts(db: Path, clock: Clock) -> None:
    outbox.enqueue(db, make_items(2), clock.now)
    claim = outbox.claim(db, now=clock.now, limit=2, worker="w")
    outbox.fail(db, claim.token, ("acme", "e00000"), "schema drift", clock.now, max_attempts=1)
    outbox.fail(db, claim.token, ("acme", "e00001"), "transient", clock.now, max_attempts=2)  # -> pending
    revived = outbox.retry_dead(db, [("acme", "e00000"), ("acme", "e00001"), ("globex", "e00000")], clock.now)
    assert revived == [("acme", "e00000")]
    row = outbox_reports.items(db, "acme")[0]
    assert (row["status"], row["attempts"], row["dead_at"], row["last_error"]) == (
        "pending",
        0,
        None,
        "schema drift",
    )
    again = outbox.claim(db, now=clock.now, limit=5, worker="w")
    assert again.keys == [("acme", "e00000")] and again.items[0].attempts == 1
    assert outbox.complete(db, again.token, again.keys, clock.now) == [("acme", "e00000")]
    assert outbox_reports.dead_letters(db, "acme") == []


def test_health_numbers(db: Path, clock: Clock) -> None:
    assert outbox_reports.health(db, clock.now) == []  # no control store yet: nothing, and no file created
    assert not db.exists()
    outbox.enqueue(db, make_items(6, org="acme"), clock.now)  # enqueued at T0
    outbox.enqueue(db, make_items(2, org="globex"), clock.advance(minutes=10))  # T0 + 10 min
    # acme: e0 processed at T0+10m, e1 processed at T0+40m, e2 dead, e3 claimed, e4 + e5 pending
    c = outbox.claim(db, now=clock.now, limit=1, worker="w")
    outbox.complete(db, c.token, c.keys, clock.now)
    c = outbox.claim(db, now=clock.advance(minutes=30), limit=3, worker="w")
    outbox.complete(db, c.token, c.keys[:1], clock.now)
    outbox.fail(db, c.token, c.keys[1], "x", clock.now, max_attempts=1)
    # globex: both processed at T0 + 40 min; e3 of acme stays claimed
    c = outbox.claim(db, now=clock.now, limit=10, worker="w")
    globex = [k for k in c.keys if k[0] == "globex"]
    outbox.complete(db, c.token, globex, clock.now)
    outbox.fail(db, c.token, ("acme", "e00004"), "retry", clock.now)
    outbox.fail(db, c.token, ("acme", "e00005"), "retry", clock.now)

    now = T0 + timedelta(minutes=70)  # the T0+10m completion is exactly an hour old: not counted
    assert outbox_reports.health(db, now) == [
        outbox_reports.HealthRow(
            "acme", pending=3, oldest_pending_age_s=4200.0, dead_lettered=1, processed_last_hour=1
        ),
        outbox_reports.HealthRow(
            "globex", pending=0, oldest_pending_age_s=None, dead_lettered=0, processed_last_hour=2
        ),
    ]
    assert (
        outbox_reports.health(db, now - timedelta(microseconds=1), org_id="acme")[0].processed_last_hour == 2
    )
    assert outbox_reports.health(db, now, org_id="globex") == outbox_reports.health(db, now)[1:]


def test_the_health_report_reads_index_ranges_not_every_item(db: Path, clock: Clock) -> None:
    """Every run reports the outbox's health: it must cost the waiting, dead and recent items, not the
    whole history of processed ones, so no step of its plan scans the items table."""
    outbox.enqueue(db, make_items(5), clock.now)
    with outbox.connect(db) as con:
        plan = [
            row[3]
            for row in con.execute("explain query plan " + outbox_reports.HEALTH_SQL, ("a", "b", None, None))
        ]
    reads = [step for step in plan if "outbox_items" in step]
    assert reads and all(step.startswith("SEARCH") and "INDEX" in step for step in reads), plan
    # The items processed in the hour: a range of processing times, not all of an org's processed items.
    assert any("processed_at>? AND processed_at<?" in step for step in reads), plan


def test_writes_join_the_callers_transaction(db: Path, clock: Clock) -> None:
    """With a connection inside a transaction, enqueue/complete commit or roll back with the caller."""
    with outbox.connect(db) as con:
        con.execute("begin immediate")
        assert outbox.enqueue(con, make_items(3), clock.now) == 3
        con.execute("rollback")
        assert outbox_reports.items(con, "acme") == []
        assert outbox.enqueue(con, make_items(3), clock.now) == 3  # autocommit: its own transaction
    assert len(outbox_reports.items(db, "acme")) == 3


def test_lock_contention_is_retried_then_bounded(
    db: Path, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A writer holding the lock past the busy timeout: the claim retries and wins once it is released;
    a lock that is never released ends in `database is locked` after a bounded number of tries."""
    monkeypatch.setattr(outbox, "_BUSY_TIMEOUT_MS", 20)
    monkeypatch.setattr(outbox, "_LOCK_BACKOFF_BASE_S", 0.01)
    monkeypatch.setattr(outbox, "_LOCK_RETRIES", 30)  # generous: the release below is a real timer
    sleeps: list[float] = []
    monkeypatch.setattr(outbox, "time", SimpleNamespace(sleep=lambda s: (sleeps.append(s), time.sleep(s))))
    outbox.enqueue(db, make_items(1), clock.now)
    holder = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
    holder.execute("begin immediate")
    release = threading.Timer(0.15, lambda: holder.execute("rollback"))
    release.start()
    try:
        assert outbox.claim(db, now=clock.now, limit=1, worker="w").keys == [("acme", "e00000")]
    finally:
        release.join()
    assert sleeps, "the claim had to retry"
    monkeypatch.setattr(outbox, "_LOCK_RETRIES", 3)
    sleeps.clear()
    holder.execute("begin immediate")
    try:
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            outbox.enqueue(db, make_items(2, prefix="x"), clock.now)
    finally:
        holder.execute("rollback")
        holder.close()
    assert len(sleeps) == 2


@pytest.mark.parametrize(
    "stored",
    [
        "0000-06-01T00:00:00.000000Z",  # year 0, as the warehouse writes it
        "-5-06-01T00:00:00.000000Z",  # a year before the common era
        "12000-01-01T00:00:00.000000Z",  # a five-digit year
    ],
)
def test_an_event_dated_outside_pythons_range_is_queued_claimed_and_listed_as_a_dead_letter(
    db: Path, clock: Clock, stored: str
) -> None:
    healthy = make_items(1, org="globex")
    poison = make_items(1, prefix="x")[0] | {"occurred_at": stored}
    assert outbox.enqueue(db, [poison, *healthy], clock.now) == 2
    claim = outbox.claim(db, now=clock.now, limit=10, worker="w")
    by_key = {item.key: item for item in claim.items}
    assert by_key[("acme", "x00000")].occurred_at is None
    assert by_key[("globex", "e00000")].occurred_at == healthy[0]["occurred_at"]
    assert outbox.fail(db, claim.token, ("acme", "x00000"), "poison", clock.now, max_attempts=1) == "dead"
    assert outbox.complete(db, claim.token, [("globex", "e00000")], clock.now) == [("globex", "e00000")]
    [dead] = outbox_reports.dead_letters(db, "acme")
    assert (dead.event_id, dead.occurred_at, dead.last_error) == ("x00000", None, "poison")


def _statements_to_complete(db: Path, clock: Clock, size: int) -> int:
    """How many SQL statements `complete` runs to finish a claim of `size` items."""
    outbox.enqueue(db, make_items(size, org=f"org{size}"), clock.now)
    claim = outbox.claim(db, now=clock.now, limit=size, worker="w")
    statements: list[str] = []
    with outbox.connect(db) as con:
        con.set_trace_callback(statements.append)
        assert outbox.complete(con, claim.token, claim.keys, clock.now) == claim.keys
        con.set_trace_callback(None)
    return len(statements)


def test_completing_a_claim_costs_the_same_statements_for_five_items_as_for_five_hundred(
    db: Path, clock: Clock
) -> None:
    """A first load completes claims of a hundred thousand items: per-key statements were most of it."""
    assert _statements_to_complete(db, clock, 500) == _statements_to_complete(db, clock, 5)


def test_complete_moves_only_the_named_keys_still_owned_by_the_token(db: Path, clock: Clock) -> None:
    outbox.enqueue(db, make_items(4) + make_items(1, org="globex"), clock.now)
    claim = outbox.claim(db, now=clock.now, limit=3, worker="w")
    other = outbox.claim(db, now=clock.now, limit=2, worker="v")
    named = [claim.keys[2], ("acme", "unknown"), claim.keys[0], claim.keys[0], other.keys[0]]
    # In the caller's order, once each; a key of another claim or no item at all is not moved.
    assert outbox.complete(db, claim.token, named, clock.now) == [claim.keys[2], claim.keys[0]]
    assert outbox.complete(db, claim.token, claim.keys, clock.now) == [claim.keys[1]]
    statuses = {(r["org_id"], r["event_id"]): r["status"] for r in outbox_reports.items(db, "acme")}
    assert [statuses[key] for key in claim.keys] == ["processed"] * 3
    assert statuses[other.keys[0]] == "claimed"


@pytest.mark.parametrize(
    "stored",
    [
        "0000-06-01T00:00:00.000000Z",
        "-001-06-01T00:00:00.000000Z",
        "-0001-06-01T00:00:00.000000Z",
        "10000-06-01T00:00:00.000000Z",
    ],
)
def test_a_claims_span_is_its_earliest_and_latest_time_or_none_with_one_outside_pythons_range(
    db: Path, clock: Clock, stored: str
) -> None:
    items = make_items(3, org="b") + make_items(2, org="a", start=T0 + timedelta(days=9))
    outbox.enqueue(db, items, clock.now)
    claim = outbox.claim(db, now=clock.now, limit=10, worker="w")
    times = [item["occurred_at"] for item in items]
    assert claim.span() == (min(times), max(times))
    assert [item.occurred_text for item in claim.items] == [
        outbox.to_text(item.occurred_at) for item in claim.items
    ]

    later = make_items(2, org="c") + [make_items(1, prefix="x")[0] | {"occurred_at": stored}]
    outbox.enqueue(db, later, clock.advance(seconds=1))
    mixed = outbox.claim(db, now=clock.now, limit=10, worker="w")
    assert len(mixed.items) == 3 and mixed.span() is None
    assert outbox.claim(db, now=clock.now, limit=10, worker="w").span() is None  # nothing claimed


def test_completing_a_whole_claim_goes_by_its_token_and_moves_only_what_it_still_owns(
    db: Path, clock: Clock
) -> None:
    """A first load's claims are completed whole: the token finds the rows, no key list to match."""
    outbox.enqueue(db, make_items(4) + make_items(1, org="globex"), clock.now)
    claim = outbox.claim(db, now=clock.now, limit=3, worker="w")
    other = outbox.claim(db, now=clock.now, limit=2, worker="v")
    assert outbox.fail(db, claim.token, claim.keys[1], "lost", clock.now) == "pending"
    statements: list[str] = []
    with outbox.connect(db) as con:
        con.set_trace_callback(statements.append)
        done = outbox.complete(con, claim.token, claim.keys, clock.now, whole_claim=True)
        con.set_trace_callback(None)
    assert done == [claim.keys[0], claim.keys[2]]
    assert not [s for s in statements if "json_each" in s]
    statuses = {(r["org_id"], r["event_id"]): r["status"] for r in outbox_reports.items(db, "acme")}
    statuses |= {(r["org_id"], r["event_id"]): r["status"] for r in outbox_reports.items(db, "globex")}
    assert [statuses[key] for key in claim.keys] == ["processed", "pending", "processed"]
    assert [statuses[key] for key in other.keys] == ["claimed", "claimed"]
