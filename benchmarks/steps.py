"""One measured step per process, so each peak RSS belongs to that step alone."""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def ingest(inbox: Path, warehouse: Path) -> dict:
    """Parse, validate, dedupe and store every inbox file into a fresh warehouse (what the ingest asset does)."""
    from dagster_project.ingestion.ingest import ingest_paths
    from dagster_project.ingestion.readers import list_inbox
    from dagster_project.settings import default_clock
    from dagster_project.warehouse.store import connect

    files = list_inbox(inbox, settle_seconds=0)
    con = connect(warehouse)
    started, cpu = time.perf_counter(), time.process_time()
    report = ingest_paths(con, files, now=default_clock().now())
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    con.close()
    return {
        "seconds": elapsed,
        "cpu_seconds": cpu,
        "lines": report.total("lines"),
        "accepted": report.total("accepted"),
        "peak_rss_mb": _peak_mb(),
    }


def duckdb_raw(inbox: Path, warehouse: Path) -> dict:
    """The ceiling: DuckDB's own readers load the same files into one table, no validation at all."""
    import duckdb

    def listed(suffix: str) -> str:
        names = sorted(
            str(p) for p in inbox.iterdir() if p.name.endswith(suffix) and not p.name.startswith(".")
        )
        return "[" + ", ".join("'" + n.replace("'", "''") + "'" for n in names) + "]"

    con = duckdb.connect(str(warehouse))
    started, cpu = time.perf_counter(), time.process_time()
    con.execute(
        f"""create table raw_events as
        select * from read_json({listed(".jsonl")}, format='newline_delimited', ignore_errors=true,
                                columns={{event_id:'VARCHAR', org_id:'VARCHAR', occurred_at:'VARCHAR',
                                event_name:'VARCHAR', entity_type:'VARCHAR', entity_id:'VARCHAR',
                                actor:'VARCHAR', payload:'VARCHAR'}})
        union all by name
        select * from read_json({listed(".jsonl.gz")}, format='newline_delimited', ignore_errors=true,
                                columns={{event_id:'VARCHAR', org_id:'VARCHAR', occurred_at:'VARCHAR',
                                event_name:'VARCHAR', entity_type:'VARCHAR', entity_id:'VARCHAR',
                                actor:'VARCHAR', payload:'VARCHAR'}})
        union all by name
        select * from read_csv({listed(".csv")}, all_varchar=true, ignore_errors=true)
        union all by name
        select * from read_parquet({listed(".parquet")})"""
    )
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    rows = con.execute("select count(*) from raw_events").fetchone()[0]
    con.close()
    return {"seconds": elapsed, "cpu_seconds": cpu, "rows": rows, "peak_rss_mb": _peak_mb()}


if __name__ == "__main__":
    step, inbox, warehouse = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    result = {"ingest": ingest, "duckdb_raw": duckdb_raw}[step](inbox, warehouse)
    print(json.dumps(result))
