"""Publish the read-only snapshot readers open: a new file beside the old one, then an atomic replace.

Every table in the warehouse's `marts` schema is copied into `<home>/serving.duckdb`; the event log
goes to Parquet beside it (large, append-mostly) behind the view `marts.events`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import duckdb

from dagster_project.settings import HomePaths
from dagster_project.warehouse import path_literal

KEEP_EVENT_FILES = 2  # the current one and the one a slow reader may still be using


@dataclass(frozen=True)
class PublishResult:
    version: str
    path: Path
    tables: list[str]
    events: int


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def publish_snapshot(
    con: duckdb.DuckDBPyConnection, paths: HomePaths, *, built_at: datetime, published_at: datetime
) -> PublishResult:
    """Write serving.duckdb from the warehouse's marts; `built_at` is the as-of time of the build."""
    paths.ensure()
    version = published_at.strftime("%Y%m%dT%H%M%S%fZ")
    events_file = paths.snapshots / f"events-{version}.parquet"
    tmp = paths.home / f".serving-{version}.duckdb"
    tmp.unlink(missing_ok=True)
    relations = con.execute(
        "select table_name, table_type from information_schema.tables where table_schema = 'marts' order by 1"
    ).fetchall()
    names = [name for name, _ in relations]
    if "events" in names:
        literal = path_literal(events_file)
        con.execute(
            f"copy (select * from marts.events order by org_id, occurred_at, event_id) to {literal} "
            "(format parquet, compression zstd, row_group_size 500000)"
        )
    con.execute(f"attach {path_literal(tmp)} as snap")
    try:
        con.execute("create schema snap.marts")
        for name, _ in relations:
            if name == "events":
                continue
            con.execute(f"create table snap.marts.{_quote(name)} as select * from marts.{_quote(name)}")
        events = 0
        if "events" in names:
            literal = path_literal(events_file)
            con.execute(f"create view snap.marts.events as select * from read_parquet({literal})")
            events = con.execute(f"select count(*) from read_parquet({literal})").fetchone()[0]
        con.execute(
            "create table snap.marts.snapshot_info as select ?::varchar as snapshot_version, "
            "?::timestamptz as built_at, ?::timestamptz as published_at, ?::bigint as events",
            [version, built_at, published_at, events],
        )
    finally:
        con.execute("detach snap")
    os.replace(tmp, paths.serving)
    for old in sorted(paths.snapshots.glob("events-*.parquet"))[:-KEEP_EVENT_FILES]:
        old.unlink(missing_ok=True)
    return PublishResult(version, paths.serving, [n for n in names if n != "events"], events)
