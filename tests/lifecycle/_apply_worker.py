"""Subprocess body for the crash tests: ingest an inbox (once) and run the apply, as a run would.

Usage: python -m tests.lifecycle._apply_worker HOME INBOX NOW AS_OF BATCH
"""

from __future__ import annotations

import sys
from pathlib import Path

from dagster_project.apply.runner import enqueue_file_events, run_apply
from dagster_project.control import store as control
from dagster_project.ingestion.ingest import ingest_paths
from dagster_project.ingestion.readers import list_inbox
from dagster_project.settings import HomePaths, parse_timestamp
from dagster_project.warehouse.store import connect, ensure_raw_schema


def main(home: str, inbox: str, now_text: str, as_of_text: str, batch: str) -> None:
    paths = HomePaths(Path(home)).ensure()
    now, as_of = parse_timestamp(now_text), parse_timestamp(as_of_text)
    con = connect(paths.warehouse)
    ensure_raw_schema(con)
    report = ingest_paths(con, list_inbox(Path(inbox)), now=now)
    for f in report.ingested:
        if f.accepted:
            enqueue_file_events(con, paths.control, f.file, now, now)
    control.record_ingested(paths.control, [(f.content_hash, f.file, f.status) for f in report.ingested], now)
    run_apply(con, paths.control, now=now, as_of=as_of, worker="test", batch_size=int(batch))
    con.close()


if __name__ == "__main__":
    main(*sys.argv[1:6])
