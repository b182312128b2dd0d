"""The win-scoring step on a large history: a first run, then a run with nothing new (issue 23 item 2).

    python -m benchmarks.scoring_step INBOX WORKDIR [--as-of ISO]

Ingests and applies INBOX into WORKDIR/warehouse.duckdb (once: a warehouse already there is reused),
then times, on a copy of it, the scoring step's parts as a run does them: reading the pursuit facts,
the whole step as the first run (every fit made), and the whole step again with nothing new (the
fits kept by the first are reused). Before the fits were kept, every run cost what the first does.
Prints wall and CPU seconds and the fits made, as JSON.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

from benchmarks.record import save
from dagster_project.apply.runner import run_apply
from dagster_project.ingestion.ingest import ingest_paths
from dagster_project.ingestion.readers import list_inbox
from dagster_project.scoring.features import read_pursuit_facts
from dagster_project.scoring.tables import write_scoring
from dagster_project.settings import parse_timestamp
from dagster_project.warehouse.store import connect, ensure_raw_schema


def _timed(step) -> tuple[dict, object]:
    wall, cpu = time.perf_counter(), time.process_time()
    result = step()
    return {
        "wall_s": round(time.perf_counter() - wall, 2),
        "cpu_s": round(time.process_time() - cpu, 2),
    }, result


def build(inbox: Path, workdir: Path, as_of: str) -> Path:
    warehouse = workdir / "warehouse.duckdb"
    if warehouse.exists():
        return warehouse
    workdir.mkdir(parents=True, exist_ok=True)
    at = parse_timestamp(as_of)
    con = connect(workdir / "building.duckdb")
    try:
        ensure_raw_schema(con)
        ingest_paths(con, list_inbox(inbox, settle_seconds=0), now=at)
        run_apply(con, workdir / "control.sqlite", now=at, as_of=at, worker="bench")
    finally:
        con.close()
    (workdir / "building.duckdb").rename(warehouse)
    return warehouse


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("inbox", type=Path)
    parser.add_argument("workdir", type=Path)
    parser.add_argument("--as-of", default="2026-11-27T17:00:00Z")
    args = parser.parse_args()
    warehouse = build(args.inbox, args.workdir, args.as_of)
    copy = args.workdir / "step.duckdb"  # not "scoring": a catalog of that name hides the schema
    shutil.copy(warehouse, copy)
    con = connect(copy)
    out: dict = {}
    try:
        con.execute("drop table if exists scoring.model_fits")
        out["read_facts"], facts = _timed(lambda: read_pursuit_facts(con))
        out["pursuit_rows"] = facts.height
        out["first_run"], first = _timed(lambda: write_scoring(con))
        out["nothing_new_run"], again = _timed(lambda: write_scoring(con))
        out["fits_made"] = [first["fits_made"], again["fits_made"]]
        out["closed_pursuits"] = con.execute(
            "select count(*) from core.pursuits where outcome is not null"
        ).fetchone()[0]
        events = con.execute("select count(*) from raw.events").fetchone()[0]
    finally:
        con.close()
        copy.unlink(missing_ok=True)
    save(f"scoring-step-{events}", out, size=events)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
