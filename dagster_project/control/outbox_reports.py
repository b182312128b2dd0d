"""What the outbox holds, read for people and reports: dead letters, per-org health, raw items.

The queue itself (enqueue, claim, complete, fail, recovery) is `control/outbox.py`; these reads never
write, and on a home without a control store they answer empty instead of creating one.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from dagster_project.control.outbox import STATUSES, Store, from_text, occurred_time, read_store, to_text, utc

# Each figure is a range of the (org, status, processed_at) index, so the report costs the items waiting,
# dead or processed in the hour, not every item the outbox ever held; the orgs are found by stepping
# through the index (one lookup per org). Parameters: the hour's start and end, the org or None (twice).
HEALTH_SQL = """
with recursive orgs(org_id) as (
    select min(org_id) from outbox_items
    union all
    select (select min(org_id) from outbox_items where org_id > orgs.org_id) from orgs where orgs.org_id is not null
)
select org_id,
       (select count(*) from outbox_items i where i.org_id = orgs.org_id and i.status in ('pending', 'claimed')),
       (select min(enqueued_at) from outbox_items i
        where i.org_id = orgs.org_id and i.status in ('pending', 'claimed')),
       (select count(*) from outbox_items i where i.org_id = orgs.org_id and i.status = 'dead'),
       (select count(*) from outbox_items i
        where i.org_id = orgs.org_id and i.status = 'processed' and i.processed_at > ? and i.processed_at <= ?)
from orgs where org_id is not null and (? is null or org_id = ?) order by org_id
"""


@dataclass(frozen=True)
class DeadLetter:
    """A dead letter; `occurred_at` is None when the event's time is outside Python's datetime range
    (such an event is a typical dead letter, so listing it must not fail)."""

    org_id: str
    event_id: str
    entity_type: str
    entity_id: str
    occurred_at: datetime | None
    attempts: int
    last_error: str | None
    dead_at: datetime


@dataclass(frozen=True)
class HealthRow:
    """One `outbox_health` row. `pending` counts pending + claimed (not yet done); the age is measured
    from `enqueued_at` (queue latency, not event age) of the oldest such item, None when there is none."""

    org_id: str
    pending: int
    oldest_pending_age_s: float | None
    dead_lettered: int
    processed_last_hour: int


def dead_letters(store: Store, org_id: str) -> list[DeadLetter]:
    """One org's dead letters with their last error, oldest death first."""

    def run(con: sqlite3.Connection) -> list[DeadLetter]:
        rows = con.execute(
            "select org_id, event_id, entity_type, entity_id, occurred_at, attempts, last_error, dead_at"
            " from outbox_items where org_id = ? and status = 'dead' order by dead_at, event_id",
            (org_id,),
        ).fetchall()
        return [
            DeadLetter(r[0], r[1], r[2], r[3], occurred_time(r[4]), r[5], r[6], from_text(r[7])) for r in rows
        ]

    return read_store(store, run, [])


def items(store: Store, org_id: str, *, status: str | None = None) -> list[dict[str, Any]]:
    """One org's items as dicts of the raw columns (times as stored text), for inspection and tests."""
    if status is not None and status not in STATUSES:
        raise ValueError(f"unknown status {status!r}")

    def run(con: sqlite3.Connection) -> list[dict[str, Any]]:
        cur = con.execute(
            "select * from outbox_items where org_id = ? and (? is null or status = ?) order by event_id",
            (org_id, status, status),
        )
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    return read_store(store, run, [])


def health(store: Store, now: datetime, *, org_id: str | None = None) -> list[HealthRow]:
    """`outbox_health` rows, one per org that has any item (or only `org_id`), sorted by org.

    `processed_last_hour` counts `processed_at` in `(now - 1 h, now]`.
    """
    now = utc(now)
    stamp = to_text(now)
    hour_ago = to_text(now - timedelta(hours=1))

    def run(con: sqlite3.Connection) -> list[HealthRow]:
        rows = con.execute(HEALTH_SQL, (hour_ago, stamp, org_id, org_id)).fetchall()
        return [
            HealthRow(
                org_id=r[0],
                pending=int(r[1]),
                oldest_pending_age_s=(
                    None if r[2] is None else max(0.0, (now - from_text(r[2])).total_seconds())
                ),
                dead_lettered=int(r[3]),
                processed_last_hour=int(r[4]),
            )
            for r in rows
        ]

    return read_store(store, run, [])


def retrying(store: Store) -> dict[str, int]:
    """Per org, pending items that already failed at least once (waiting out their backoff)."""

    def run(con: sqlite3.Connection) -> dict[str, int]:
        rows = con.execute(
            "select org_id, count(*) from outbox_items where status = 'pending' and attempts > 0 group by org_id"
        ).fetchall()
        return {r[0]: int(r[1]) for r in rows}

    return read_store(store, run, {})
