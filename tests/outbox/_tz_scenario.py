"""A deterministic outbox scenario whose clock is written in America/New_York across the 2026 DST end.

Run as `python -m tests.outbox._tz_scenario <dir>`; prints JSON. The result must not depend on the
process `TZ`, nor on the zone the injected clock is expressed in.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from dagster_project.control import outbox, outbox_reports

from . import _workers as w

NY = ZoneInfo("America/New_York")


def run(folder: Path) -> dict:
    db = folder / "control.sqlite"
    out: dict = {}
    # 2026-11-01 01:58 EDT (05:58Z); the wall clock then falls back to 01:00 EST (06:00Z).
    t_claim = datetime(2026, 11, 1, 1, 58, tzinfo=NY)
    items = [
        {
            "org_id": "acme",
            "event_id": f"e{i:03d}",
            "entity_type": "signal",
            "entity_id": f"s{i}",
            "occurred_at": "2026-10-31T21:00:00-04:00",
        }
        for i in range(3)
    ]
    outbox.enqueue(db, items, t_claim)
    first = outbox.claim(db, now=t_claim, limit=3, worker="w")
    # 01:02 EST (fold=1) is 4 min later in real time though the wall clock reads 56 min earlier
    out["recover_4min"] = outbox.recover_stale(db, datetime(2026, 11, 1, 1, 2, fold=1, tzinfo=NY)).requeued
    out["recover_5min"] = outbox.recover_stale(db, datetime(2026, 11, 1, 1, 3, fold=1, tzinfo=NY)).requeued
    out["recover_6min"] = outbox.recover_stale(db, datetime(2026, 11, 1, 1, 4, fold=1, tzinfo=NY)).requeued
    out["late_complete"] = outbox.complete(
        db, first.token, first.keys, datetime(2026, 11, 1, 1, 5, fold=1, tzinfo=NY)
    )

    # a small drain with injected failures, the clock stepping in NY wall time
    w.ensure_effects(db)
    outbox.enqueue(
        db,
        [dict(item, event_id=f"d{i:03d}", org_id="globex") for i, item in enumerate(items * 40)],
        t_claim,
    )
    now = datetime(2026, 11, 1, 1, 10, fold=1, tzinfo=NY)
    for _ in range(10):
        w.drain_round(str(db), now.isoformat(), "w", seed=7, fail_rate=0.3, poison_rate=0.02, limit=7)
        now = (now.astimezone(UTC) + timedelta(minutes=61)).astimezone(NY)
    out["health"] = [row.__dict__ for row in outbox_reports.health(db, now)]
    out["dead"] = [
        (d.event_id, d.attempts, d.last_error, d.dead_at.isoformat())
        for d in outbox_reports.dead_letters(db, "globex")
    ]
    rows = outbox_reports.items(db, "acme") + outbox_reports.items(db, "globex")
    out["items"] = [{k: v for k, v in r.items() if k != "claim_token"} for r in rows]
    return out


if __name__ == "__main__":
    print(json.dumps(run(Path(sys.argv[1])), sort_keys=True))
