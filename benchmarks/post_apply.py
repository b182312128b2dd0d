"""The steps after the apply's batches, and the alert step, on a copy of a home a run left.

    python -m benchmarks.post_apply HOME WORKDIR [--now ISO] [--skip-identity]

Copies HOME's warehouse and control store into WORKDIR, puts them back in the state a first run leaves
them in before these steps (no purge records, no alerts recorded, no identity resolved), then times
each step as the first run does it and again as the next run does it (nothing new): the purge of
expired atoms, identity resolution, and the alert step's parts (deciding, recording, delivering,
copying the alert log into the warehouse). Prints wall and CPU seconds per step, as JSON. `--now`
defaults to the warehouse's run clock, so the clocks and expiries are read as that run read them.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from benchmarks.record import save
from dagster_project.identity.store import resolve_identities
from dagster_project.memory.governance import purge_expired
from dagster_project.sla import alerts, pending
from dagster_project.warehouse.store import connect, read_run_clock


def _timed(out: dict[str, Any], name: str, step: Callable[[], Any]) -> Any:
    wall, cpu = time.perf_counter(), time.process_time()
    result = step()
    out[name] = {"wall_s": round(time.perf_counter() - wall, 2), "cpu_s": round(time.process_time() - cpu, 2)}
    return result


def _reset(workdir: Path) -> None:
    con = connect(workdir / "warehouse.duckdb")
    try:
        con.execute("delete from core.scrubbed where audit_id like 'expired:%'")
        con.execute("delete from identity.org_state")
        con.execute("drop table if exists control.alerts_copied")
    finally:
        con.close()
    control = sqlite3.connect(workdir / "control.sqlite")
    control.execute("delete from alert_deliveries")
    control.execute("delete from alerts")
    control.commit()
    control.close()


def _run(workdir: Path, now: datetime, *, identity: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    warehouse, control = workdir / "warehouse.duckdb", workdir / "control.sqlite"
    con = connect(warehouse)
    try:
        purged = _timed(out, "purge", lambda: purge_expired(con, as_of=now, now=now))
        out["purge"]["atoms"] = purged.redactions
        if identity:
            resolved = _timed(out, "identity", lambda: resolve_identities(con))
            out["identity"]["orgs"] = len(resolved.orgs_resolved)
    finally:
        con.close()
    with alerts.connect_path(control) as sq:
        todo = _timed(out, "alerts_decide", lambda: pending.pending_from_build(warehouse, now, sq))
        created = _timed(
            out,
            "alerts_record",
            lambda: alerts.record(
                sq, todo, now=now, sinks=alerts.sinks_for(None), max_age=timedelta(hours=24)
            ),
        )
        out["alerts_record"]["alerts"] = len(created)
        _timed(
            out,
            "alerts_deliver",
            lambda: alerts.deliver(sq, now=now, webhook_url=None, logger=lambda _m: None),
        )
    con = connect(warehouse)
    try:
        _timed(out, "alerts_copy", lambda: alerts.write_alerts_table(con, control))
    finally:
        con.close()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("home", type=Path)
    parser.add_argument("workdir", type=Path)
    parser.add_argument("--now", default="")
    parser.add_argument(
        "--skip-identity", action="store_true", help="the longest step, unchanged by a re-run"
    )
    args = parser.parse_args(argv)
    args.workdir.mkdir(parents=True, exist_ok=True)
    for name in ("warehouse.duckdb", "control.sqlite"):
        shutil.copy(args.home / name, args.workdir / name)
    _reset(args.workdir)
    if args.now:
        now = datetime.fromisoformat(args.now)
    else:
        con = connect(args.workdir / "warehouse.duckdb", read_only=True)
        try:
            clock = read_run_clock(con)
        finally:
            con.close()
        if clock is None:
            parser.error("the warehouse has no run clock: pass --now")
        now = clock[1]
    identity = not args.skip_identity
    runs = {"first_run": _run(args.workdir, now, identity=identity)}
    runs["next_run"] = _run(args.workdir, now, identity=identity)
    con = connect(args.workdir / "warehouse.duckdb", read_only=True)
    try:
        events = con.execute("select count(*) from raw.events").fetchone()[0]
    finally:
        con.close()
    save(f"post-apply-{events}", runs, size=events)
    print(json.dumps(runs, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
