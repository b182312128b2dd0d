"""T1a / T1b: many claimants on one control store; every effect exactly once or a dead letter with a reason.

The clock is injected: each round every worker drains what is due at the round's `now`, then the test
moves the clock past the longest backoff (60 min) so failed items become due again.
"""

from __future__ import annotations

import multiprocessing as mp
import queue
import threading
from collections import defaultdict
from datetime import timedelta
from pathlib import Path

import pytest

from dagster_project.control import outbox, outbox_reports

from . import _workers as w
from .conftest import T0, make_items

N_ITEMS = 2_000
FAIL_RATE = 0.2
POISON_RATE = 0.01
ROUND_STEP = timedelta(minutes=61)  # > the 60-minute backoff cap: every failed item is due next round
MAX_ROUNDS = outbox.DEFAULT_MAX_ATTEMPTS + 2


def _seed(path: Path) -> list[outbox.Key]:
    items = make_items(N_ITEMS // 2, org="acme") + make_items(N_ITEMS // 2, org="globex")
    assert outbox.enqueue(path, items, T0) == N_ITEMS
    w.ensure_effects(path)
    return [(i["org_id"], i["event_id"]) for i in items]


def _pending(path: Path) -> int:
    return sum(row.pending for row in outbox_reports.health(path, T0))


def _check(path: Path, keys: list[outbox.Key], records: list[w.ClaimRecord], seed: int, rounds: int) -> None:
    snap = w.snapshot(path)
    items, counts, effects = snap["items"], snap["counts"], snap["effects"]
    assert set(items) == set(keys)
    statuses = defaultdict(int)
    for key, row in items.items():
        statuses[row["status"]] += 1
        if row["status"] == "processed":
            assert counts.get(key) == 1, f"{key} applied {counts.get(key)} times"
            assert key in effects
        else:
            assert row["status"] == "dead", f"{key} left {row['status']}"
            assert counts.get(key) is None and key not in effects
            assert row["attempts"] == outbox.DEFAULT_MAX_ATTEMPTS and row["last_error"]
        assert 1 <= row["attempts"] <= outbox.DEFAULT_MAX_ATTEMPTS
    poison = {k for k in keys if w.is_poison(seed, *k, POISON_RATE)}
    dead = {k for k, row in items.items() if row["status"] == "dead"}
    assert poison <= dead and poison, "every poison item dead-lettered (and the seed has some)"
    for key in poison:
        assert items[key]["last_error"].startswith("poison")
    assert statuses["processed"] + statuses["dead"] == N_ITEMS
    assert statuses["processed"] >= N_ITEMS * 0.95

    # No two claimants at once: each (item, attempt) was handed out exactly once, attempts run 1..n
    # with n the final count, and one token never spans two workers.
    by_item: dict[outbox.Key, list[int]] = defaultdict(list)
    token_worker: dict[str, str] = {}
    for token, worker, org_id, event_id, attempt in records:
        by_item[(org_id, event_id)].append(attempt)
        assert token_worker.setdefault(token, worker) == worker
    for key, attempts in by_item.items():
        assert sorted(attempts) == list(range(1, items[key]["attempts"] + 1)), key
    assert set(by_item) == set(keys)
    assert rounds <= outbox.DEFAULT_MAX_ATTEMPTS + 1


@pytest.mark.parametrize("seed", [1, 2])
def test_threads_claim_exactly_once(db: Path, seed: int) -> None:
    keys = _seed(db)
    records: list[w.ClaimRecord] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    now, rounds = T0, 0
    while _pending(db):
        rounds += 1
        assert rounds <= MAX_ROUNDS, "drain did not converge"

        def run(name: str, at: str = now.isoformat()) -> None:
            try:
                got = w.drain_round(
                    str(db), at, name, seed, FAIL_RATE, POISON_RATE, limit=5 + len(name) % 4 * 5
                )
            except BaseException as exc:
                errors.append(exc)
                return
            with lock:
                records.extend(got)

        threads = [threading.Thread(target=run, args=(f"t{i}",)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
            assert not t.is_alive()
        assert not errors, errors
        assert not outbox_reports.items(db, "acme", status="claimed") and not outbox_reports.items(
            db, "globex", status="claimed"
        )
        now += ROUND_STEP
    _check(db, keys, records, seed, rounds)


def test_processes_claim_exactly_once(db: Path) -> None:
    seed = 3
    keys = _seed(db)
    ctx = mp.get_context("spawn")
    results: mp.Queue = ctx.Queue()
    inboxes = [ctx.Queue() for _ in range(4)]
    procs = [
        ctx.Process(
            target=w.process_main,
            args=(str(db), f"p{i}", seed, FAIL_RATE, POISON_RATE, 10, inboxes[i], results),
            daemon=True,
        )
        for i in range(4)
    ]
    for p in procs:
        p.start()
    records: list[w.ClaimRecord] = []
    try:
        now, rounds = T0, 0
        while _pending(db):
            rounds += 1
            assert rounds <= MAX_ROUNDS, "drain did not converge"
            for q in inboxes:
                q.put(now.isoformat())
            for _ in procs:
                try:
                    worker, status, payload = results.get(timeout=60)
                except queue.Empty:
                    pytest.fail("a worker process did not finish its round")
                assert status == "ok", f"{worker}: {payload}"
                records.extend(tuple(r) for r in payload)
            now += ROUND_STEP
    finally:
        for q in inboxes:
            q.put(None)
        for p in procs:
            p.join(timeout=30)
            if p.is_alive():
                p.kill()
    assert all(p.exitcode == 0 for p in procs)
    workers = {r[1] for r in records}
    assert len(workers) >= 2, "the processes really competed"
    _check(db, keys, records, seed, rounds)
