"""Worker loops shared by the thread and process stress tests (importable under multiprocessing spawn).

The effect lives in the control store, so workers use pattern 1 of `dagster_project.control.outbox`: ownership
check, effect and completion in one `BEGIN IMMEDIATE` transaction. The effect is written twice on
purpose: `effects` has a UNIQUE key (a second application raises), `effect_log` is an append-only counter
(a second application would show up as a count of 2).
"""

from __future__ import annotations

import hashlib
import sqlite3
from datetime import datetime
from pathlib import Path
from typing import Any

from dagster_project.control import outbox

EFFECTS_SCHEMA = """
create table if not exists effects (org_id text not null, event_id text not null, token text not null,
    unique (org_id, event_id));
create table if not exists effect_log (seq integer primary key autoincrement, org_id text not null,
    event_id text not null, token text not null, worker text not null);
"""

ClaimRecord = tuple[str, str, str, str, int]  # token, worker, org_id, event_id, attempt


def ensure_effects(path: Path | str) -> None:
    with outbox.connect(path) as con:
        con.executescript(EFFECTS_SCHEMA)


def _unit(*parts: Any) -> float:
    digest = hashlib.sha256(":".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def is_poison(seed: int, org_id: str, event_id: str, rate: float) -> bool:
    return _unit(seed, "poison", org_id, event_id) < rate


def should_fail(seed: int, org_id: str, event_id: str, attempt: int, rate: float) -> bool:
    """Deterministic per (seed, item, attempt): the same run fails the same attempts."""
    return _unit(seed, org_id, event_id, attempt) < rate


def apply_and_complete(
    path: Path | str, token: str, keys: list[outbox.Key], now: datetime, worker: str
) -> list[outbox.Key]:
    """Pattern 1: ownership check + effect + fenced complete in one write transaction."""
    with outbox.transaction(path) as con:
        owned = outbox.still_owned(con, token, keys)
        for org_id, event_id in owned:
            con.execute(
                "insert into effect_log (org_id, event_id, token, worker) values (?, ?, ?, ?)",
                (org_id, event_id, token, worker),
            )
            con.execute("insert into effects values (?, ?, ?)", (org_id, event_id, token))
        done = outbox.complete(con, token, owned, now)
        if done != owned:
            raise AssertionError(f"owned {owned} but completed {done}")
        return done


def drain_round(
    path: str,
    now_text: str,
    worker: str,
    seed: int,
    fail_rate: float,
    poison_rate: float,
    limit: int,
) -> list[ClaimRecord]:
    """Claim and process until nothing is due at `now`; failures go through `fail`."""
    now = datetime.fromisoformat(now_text)
    records: list[ClaimRecord] = []
    while True:
        claim = outbox.claim(path, now=now, limit=limit, worker=worker)
        if not claim:
            return records
        ok: list[outbox.Key] = []
        for item in claim.items:
            records.append((claim.token, worker, item.org_id, item.event_id, item.attempts))
            if is_poison(seed, item.org_id, item.event_id, poison_rate):
                status = outbox.fail(path, claim.token, item.key, "poison: handler rejects payload", now)
            elif should_fail(seed, item.org_id, item.event_id, item.attempts, fail_rate):
                status = outbox.fail(path, claim.token, item.key, f"injected failure #{item.attempts}", now)
            else:
                ok.append(item.key)
                continue
            if status is None:
                raise AssertionError(f"{worker} lost its claim on {item.key}")
        if ok:
            apply_and_complete(path, claim.token, ok, now, worker)


def process_main(
    path: str, worker: str, seed: int, fail_rate: float, poison_rate: float, limit: int, inbox, results
) -> None:  # type: ignore[no-untyped-def]
    """A persistent worker process: one `drain_round` per clock value received; None stops it."""
    try:
        while (now_text := inbox.get()) is not None:
            results.put(
                (worker, "ok", drain_round(path, now_text, worker, seed, fail_rate, poison_rate, limit))
            )
    except BaseException as exc:  # report, so the parent fails instead of hanging
        results.put((worker, "error", repr(exc)))


def snapshot(path: Path | str) -> dict[str, Any]:
    """Final state for the assertions: item rows, effect counts, effect rows."""
    with outbox.connect(path) as con:
        con.row_factory = sqlite3.Row
        items = {(r["org_id"], r["event_id"]): dict(r) for r in con.execute("select * from outbox_items")}
        counts = {
            (r[0], r[1]): r[2]
            for r in con.execute("select org_id, event_id, count(*) from effect_log group by 1, 2")
        }
        effects = {(r[0], r[1]) for r in con.execute("select org_id, event_id from effects")}
    return {"items": items, "counts": counts, "effects": effects}
