"""T3 stale-claim recovery boundaries and T4 fencing: a late finisher never applies or fails twice."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

import pytest

from dagster_project.control import outbox, outbox_reports

from . import _workers as w
from .conftest import T0, Clock, make_items

STALE = timedelta(minutes=5)


def _seed_matrix(db: Path) -> dict[str, outbox.Key]:
    """River-style seeded rows: claims of several ages and attempt counts, plus finished states."""
    cases = {
        "age_4_59": ("claimed", 1, STALE - timedelta(seconds=1)),
        "age_5_00": ("claimed", 1, STALE),
        "age_5_01": ("claimed", 3, STALE + timedelta(seconds=1)),
        "age_5_00_plus_1us": ("claimed", 2, STALE + timedelta(microseconds=1)),
        "max_4_59": ("claimed", 8, STALE - timedelta(seconds=1)),
        "max_5_01": ("claimed", 8, STALE + timedelta(seconds=1)),
        "processed_old": ("processed", 1, timedelta(hours=2)),
        "dead_old": ("dead", 8, timedelta(hours=2)),
        "pending_old": ("pending", 2, timedelta(hours=2)),
    }
    items = [make_items(1)[0] | {"event_id": name} for name in cases]
    outbox.enqueue(db, items, T0 - timedelta(days=1))
    with outbox.connect(db) as con:
        for name, (status, attempts, age) in cases.items():
            at = outbox.to_text(T0 - age)
            con.execute(
                "update outbox_items set status = ?, attempts = ?, claimed_at = ?, claim_token = ?,"
                " claimed_by = 'old-worker', processed_at = ?, dead_at = ?, last_error = ?"
                " where event_id = ?",
                (
                    status,
                    attempts,
                    at if status in ("claimed", "processed") else None,
                    f"tok-{name}" if status in ("claimed", "processed") else None,
                    at if status == "processed" else None,
                    at if status == "dead" else None,
                    "earlier failure" if status in ("dead", "pending") else None,
                    name,
                ),
            )
    return {name: ("acme", name) for name in cases}


def test_stale_boundaries(db: Path) -> None:
    _seed_matrix(db)
    before = {r["event_id"]: r for r in outbox_reports.items(db, "acme")}
    got = outbox.recover_stale(db, T0)
    assert got.requeued == [("acme", "age_5_00_plus_1us"), ("acme", "age_5_01")]
    assert got.dead == [("acme", "max_5_01")]
    after = {r["event_id"]: r for r in outbox_reports.items(db, "acme")}
    for name in ("age_4_59", "age_5_00", "max_4_59", "processed_old", "dead_old", "pending_old"):
        assert after[name] == before[name], f"{name} must be untouched"
    for name in ("age_5_01", "age_5_00_plus_1us"):
        row = after[name]
        assert (row["status"], row["claim_token"], row["claimed_at"]) == ("pending", None, None)
        assert row["next_attempt_at"] == outbox.to_text(T0)
        assert row["attempts"] == before[name]["attempts"]  # the claim already counted the attempt
        assert row["last_error"].startswith("stale claim by old-worker")
    dead = after["max_5_01"]
    assert (dead["status"], dead["dead_at"], dead["claim_token"]) == ("dead", outbox.to_text(T0), None)
    assert "attempts exhausted" in dead["last_error"]
    assert [d.event_id for d in outbox_reports.dead_letters(db, "acme")] == ["dead_old", "max_5_01"]
    # recovered rows are due at once and get a fresh token (and one more attempt)
    claim = outbox.claim(db, now=T0, limit=10, worker="new-worker")
    assert {i.event_id: i.attempts for i in claim.items} == {
        "age_5_01": 4,
        "age_5_00_plus_1us": 3,
        "pending_old": 3,
    }
    assert not claim.token.startswith("tok-")
    # running recovery again at the same now changes nothing
    assert outbox.recover_stale(db, T0) == outbox.Recovered([], [])


def test_recovery_window_and_attempts_are_parameters(db: Path) -> None:
    _seed_matrix(db)
    got = outbox.recover_stale(db, T0, stale_minutes=1, max_attempts=3)
    assert ("acme", "age_4_59") in got.requeued and ("acme", "age_5_01") in got.dead


def test_fencing_late_finisher_gets_nothing(db: Path, clock: Clock) -> None:
    """Worker A claims, goes quiet, recovery re-queues, B claims and completes; A's late calls are no-ops."""
    outbox.enqueue(db, make_items(2), clock.now)
    w.ensure_effects(db)
    a = outbox.claim(db, now=clock.now, limit=2, worker="A")
    assert outbox.recover_stale(db, clock.advance(minutes=5, seconds=1)).requeued == a.keys
    b = outbox.claim(db, now=clock.now, limit=2, worker="B")
    assert b.keys == a.keys and b.token != a.token
    # A wakes up while B still holds the claim: it owns nothing and changes nothing
    assert outbox.still_owned(db, a.token, a.keys) == []
    assert w.apply_and_complete(db, a.token, a.keys, clock.now, "A") == []
    assert outbox.complete(db, a.token, a.keys, clock.now) == []
    assert outbox.fail(db, a.token, a.keys[0], "late failure", clock.now) is None
    assert {r["status"] for r in outbox_reports.items(db, "acme")} == {"claimed"}
    # B finishes; A's calls after that change nothing either
    assert w.apply_and_complete(db, b.token, b.keys[:1], clock.now, "B") == b.keys[:1]
    assert outbox.complete(db, b.token, b.keys[1:], clock.now) == b.keys[1:]  # pattern 2 (no effect)
    assert outbox.complete(db, a.token, a.keys, clock.now) == []
    assert outbox.fail(db, a.token, a.keys[1], "late failure", clock.now) is None
    assert outbox.complete(db, b.token, b.keys, clock.now) == []  # completing twice is a no-op
    rows = outbox_reports.items(db, "acme")
    assert [(r["status"], r["attempts"], r["claimed_by"], r["last_error"]) for r in rows] == [
        ("processed", 2, "B", rows[0]["last_error"]),
        ("processed", 2, "B", rows[1]["last_error"]),
    ]
    assert w.snapshot(db)["counts"] == {("acme", "e00000"): 1}


@pytest.mark.parametrize("rep", range(3))
def test_fencing_race_with_recovery(db: Path, rep: int) -> None:
    """A slow worker completes item by item while recovery re-queues its claim concurrently: each item
    ends (processed with 1 effect) xor (pending with 0 effects); a second worker then finishes the rest."""
    n = 300
    outbox.enqueue(db, make_items(n), T0)
    w.ensure_effects(db)
    slow = outbox.claim(db, now=T0, limit=n, worker="slow")
    assert len(slow.items) == n
    later = T0 + STALE + timedelta(seconds=1)
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def slow_worker() -> None:
        try:
            barrier.wait(timeout=10)
            for key in slow.keys:
                w.apply_and_complete(db, slow.token, [key], later, "slow")
        except BaseException as exc:
            errors.append(exc)

    def recoverer() -> None:
        try:
            barrier.wait(timeout=10)
            # let the slow worker get a few in first, on alternating reps
            for _ in range(rep * 20):
                outbox_reports.health(db, later)
            outbox.recover_stale(db, later)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=slow_worker), threading.Thread(target=recoverer)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    snap = w.snapshot(db)
    for key, row in snap["items"].items():
        applied = snap["counts"].get(key, 0)
        assert (row["status"], applied) in {("processed", 1), ("pending", 0)}, (key, row["status"], applied)
    # the rest is finished by a fresh worker, still exactly once
    fresh = outbox.claim(db, now=later, limit=n, worker="fresh")
    w.apply_and_complete(db, fresh.token, fresh.keys, later, "fresh")
    snap = w.snapshot(db)
    assert {row["status"] for row in snap["items"].values()} == {"processed"}
    assert set(snap["counts"].values()) == {1} and len(snap["counts"]) == n


def test_a_sole_worker_reclaims_every_open_claim_however_fresh(db: Path) -> None:
    keys = _seed_matrix(db)
    with outbox.connect(db) as con:  # a claim made this very instant, by a run that then died
        con.execute(
            "update outbox_items set claimed_at = ? where event_id = 'age_4_59'", (outbox.to_text(T0),)
        )
    recovered = outbox.recover_abandoned(db, T0, max_attempts=8)
    assert recovered.requeued == sorted(
        keys[n] for n in ("age_4_59", "age_5_00", "age_5_01", "age_5_00_plus_1us")
    )
    assert recovered.dead == sorted(keys[n] for n in ("max_4_59", "max_5_01"))
    rows = {r["event_id"]: r for r in outbox_reports.items(db, "acme")}
    assert rows["age_4_59"]["status"] == "pending" and rows["age_4_59"]["next_attempt_at"] == outbox.to_text(
        T0
    )
    assert rows["age_4_59"]["last_error"].startswith("abandoned claim by old-worker")
    assert {rows[n]["status"] for n in ("processed_old", "dead_old", "pending_old")} == {
        "processed",
        "dead",
        "pending",
    }
    claim = outbox.claim(db, now=T0, limit=10, worker="rerun")
    assert {item.event_id for item in claim.items} >= {"age_4_59", "age_5_00"}
