"""Apply benchmarks, one measured step per process (so each peak RSS is that step's alone).

`split`: ingest a generated inbox once and write its accepted events back out as two clean JSON Lines
files: the history (all but the newest K events) and the increment (the newest K, which touch entities
the history created: a realistic next drop). `history`: ingest + apply the history into a fresh home
(apply throughput). `increment`: ingest + apply the increment on top (the incremental cost); it starts from a copy of the
home saved after the history, so it can be repeated on a quiet machine.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path

from benchmarks.steps import _peak_mb

NOW = "2026-11-28T00:00:00Z"
AS_OF = "2026-11-27T17:00:00Z"


def split(inbox: Path, out: Path, increment: int) -> dict:
    from dagster_project.ingestion.ingest import ingest_paths
    from dagster_project.ingestion.readers import list_inbox
    from dagster_project.settings import parse_timestamp
    from dagster_project.warehouse.store import connect, path_literal

    shutil.rmtree(out, ignore_errors=True)
    (out / "history").mkdir(parents=True)
    (out / "increment").mkdir(parents=True)
    scratch = out / "scratch.duckdb"
    con = connect(scratch)
    ingest_paths(con, list_inbox(inbox, settle_seconds=0), now=parse_timestamp(NOW))
    total = con.execute("select count(*) from raw.events").fetchone()[0]
    cut = total - increment
    select = """select event_id, org_id, strftime(occurred_at, '%Y-%m-%dT%H:%M:%S.%fZ') as occurred_at,
                       event_name, entity_type, entity_id, actor, payload
                from (select *, row_number() over (order by occurred_at, org_id, event_id) as n from raw.events)"""
    for name, where in (("history", f"n <= {cut}"), ("increment", f"n > {cut}")):
        target = path_literal(out / name / f"{name}.jsonl")
        con.execute(f"copy ({select} where {where} order by n) to {target} (format json)")
    con.close()
    scratch.unlink()
    return {"events": total, "history": cut, "increment": increment}


def _ingest_and_apply(inbox: Path, home: Path) -> dict:
    from dagster_project.apply.runner import enqueue_file_events, run_apply
    from dagster_project.control import store as control
    from dagster_project.ingestion.ingest import ingest_paths
    from dagster_project.ingestion.readers import list_inbox
    from dagster_project.settings import HomePaths, parse_timestamp
    from dagster_project.warehouse.store import connect, ensure_raw_schema

    paths = HomePaths(home).ensure()
    now, as_of = parse_timestamp(NOW), parse_timestamp(AS_OF)
    con = connect(paths.warehouse)
    ensure_raw_schema(con)
    started, started_cpu = time.perf_counter(), time.process_time()
    report = ingest_paths(con, list_inbox(inbox, settle_seconds=0), now=now)
    # A new connection after the ingest, as the run's next step opens its own: at 990k events in one
    # file this connection still counted no event after `ingest_paths` returned (cause not yet found),
    # so nothing was enqueued or claimed.
    con.close()
    con = connect(paths.warehouse)
    for f in report.ingested:
        if f.accepted:
            enqueue_file_events(con, paths.control, f.file, now, now)
    control.record_ingested(paths.control, [(f.content_hash, f.file, f.status) for f in report.ingested], now)
    ingested, ingested_cpu = time.perf_counter(), time.process_time()
    batch_ends = [(ingested, ingested_cpu)]
    applied = run_apply(
        con,
        paths.control,
        now=now,
        as_of=as_of,
        worker="bench",
        # As a run's apply asset does by default: the expired atoms' text is purged and their events
        # re-folded (benchmarks/README.md says which figures were taken without it).
        purge=True,
        # The run logs once per batch: the last log ends the batches, the rest (scrubs, identity) follows.
        log=lambda _msg: batch_ends.append((time.perf_counter(), time.process_time())),
    )
    done, done_cpu = time.perf_counter(), time.process_time()
    con.close()
    return {
        "ingest_seconds": ingested - started,
        "ingest_cpu_seconds": ingested_cpu - started_cpu,
        "apply_seconds": done - ingested,
        "apply_cpu_seconds": done_cpu - ingested_cpu,
        "apply_batches_seconds": batch_ends[-1][0] - ingested,
        "apply_batches_cpu_seconds": batch_ends[-1][1] - ingested_cpu,
        "apply_after_batches_seconds": done - batch_ends[-1][0],
        "seconds": done - started,
        "events": report.total("accepted"),
        "claimed": applied.claimed,
        "events_folded": applied.events_folded,
        "events_set_based": applied.events_set_based,
        "clusters": applied.clusters,
        "apply_events_per_s": applied.claimed / max(done - ingested, 1e-9),
        "apply_batches_events_per_s": applied.claimed / max(batch_ends[-1][0] - ingested, 1e-9),
        "peak_rss_mb": _peak_mb(),
    }


def saved_history(home: Path) -> Path:
    """Where `history` keeps a copy of the home as it was after the history, before any increment."""
    return home.with_name(f"{home.name}-after-history")


def history(inbox: Path, home: Path) -> dict:
    shutil.rmtree(home, ignore_errors=True)
    result = _ingest_and_apply(inbox, home)
    shutil.rmtree(saved_history(home), ignore_errors=True)
    shutil.copytree(home, saved_history(home))
    return result


def increment(inbox: Path, home: Path) -> dict:
    """Ingest + apply the increment on the home as the history left it (so it can be repeated)."""
    shutil.rmtree(home, ignore_errors=True)
    shutil.copytree(saved_history(home), home)
    # Flush the copy before the clock starts: its gigabytes of dirty pages would otherwise be written
    # back during the measured run (set-up cost, not the increment's, and larger the larger the history).
    os.sync()
    return _ingest_and_apply(inbox, home)


if __name__ == "__main__":
    name, *args = sys.argv[1:]
    if name == "split":
        result = split(Path(args[0]), Path(args[1]), int(args[2]))
    else:
        result = {"history": history, "increment": increment}[name](Path(args[0]), Path(args[1]))
    print(json.dumps(result))
