"""Publish the read-only snapshot readers open: a new file beside the old one, then an atomic replace.

Every relation in the warehouse's `marts` schema (all dbt models with contracts, the control store's
outbox and alert state included) is copied into `<home>/serving.duckdb`; the event log goes to Parquet
beside it (large, append-mostly) behind the view `marts.events`. Publish adds only `snapshot_info` (the
file's own identity) and the memory search index, which dbt cannot build: it is DuckDB's fts index (a
schema of tables and macros made by `pragma create_fts_index`, with the extension loaded from its Python
wheel), built inside the new file so it always matches the atoms readers see.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import duckdb

from dagster_project.control.faults import checkpoint
from dagster_project.memory.search import build_index
from dagster_project.settings import HomePaths
from dagster_project.warehouse.store import path_literal

KEEP_EVENT_FILES = 2  # the current one and the one a slow reader may still be using


@dataclass(frozen=True)
class PublishResult:
    version: str
    path: Path
    tables: list[str]
    events: int


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


# Files a writer makes beside the live ones and renames into place; one that is still there when no
# writer runs was left by a process that died (`kill -9`, power loss) and may hold text that a later
# redaction erased from everything else.
LEFTOVER_PATTERNS = (
    ".serving-*.duckdb",
    ".serving-*.duckdb.wal",
    ".*.duckdb.rewrite",
    ".*.duckdb.rewrite.wal",
)


def remove_publish_leftovers(paths: HomePaths) -> list[Path]:
    """Delete half-written snapshot and rewrite files a dead process left under the home; the removed.

    Call only while holding the writer lock: every writer of such files (publish and the warehouse
    rewrite) holds it, so none of them can be in the middle of writing one.
    """
    removed: list[Path] = []
    if not paths.home.is_dir():
        return removed
    for pattern in LEFTOVER_PATTERNS:
        for path in sorted(paths.home.glob(pattern)):
            if path.is_file():
                path.unlink(missing_ok=True)
                removed.append(path)
    return removed


def publish_snapshot(
    con: duckdb.DuckDBPyConnection, paths: HomePaths, *, built_at: datetime, published_at: datetime
) -> PublishResult:
    """Write serving.duckdb from the warehouse's marts; `built_at` is the as-of time of the build.

    The caller holds the writer lock."""
    paths.ensure()
    remove_publish_leftovers(paths)
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
    if "memory_atoms" in names:
        _index_memory(tmp)
    checkpoint("before_publish")
    os.replace(tmp, paths.serving)
    # After a redaction no older copy of the log may keep its text: only the new file stays.
    keep = 1 if paths.redaction_marker.exists() else KEEP_EVENT_FILES
    for old in sorted(paths.snapshots.glob("events-*.parquet"))[:-keep]:
        old.unlink(missing_ok=True)
    tables = [n for n in names if n != "events"]
    if "memory_atoms" in names:
        tables += ["memory_search", "memory_search_postings", "memory_search_org_stats"]
    return PublishResult(version, paths.serving, tables, events)


def _index_memory(snapshot: Path) -> None:
    """Build the BM25 search index over live atoms inside the new snapshot file, before it goes live."""
    con = duckdb.connect(str(snapshot))
    try:
        build_index(con)
    finally:
        con.close()
