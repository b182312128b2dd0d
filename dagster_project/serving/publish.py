"""Publish the read-only snapshot readers open: a new file beside the old one, then an atomic replace.

Every relation in the warehouse's `marts` schema (all dbt models with contracts, the control store's
outbox and alert state included) is copied into `<home>/serving.duckdb`; the event log (large, append-mostly) goes to immutable Parquet
parts under `<home>/snapshots/parts/` behind the view `marts.events`, and a publish writes only the
rows that changed since the live snapshot (dagster_project/serving/parts.py). Publish adds only `snapshot_info` (the
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
from dagster_project.serving.parts import (
    MAX_PARTS,
    PART_ROWS,
    events_view_sql,
    plan_and_write,
    previous_parts,
    remove_unlisted,
    write_manifest,
)
from dagster_project.settings import HomePaths
from dagster_project.warehouse.store import path_literal
from dagster_project.warehouse.store import quote_ident as _quote


@dataclass(frozen=True)
class PublishResult:
    version: str
    path: Path
    tables: list[str]
    events: int
    events_written: int = 0  # rows of the event log written to new parts (the rest were reused)
    parts_merged: int = 0


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
    con: duckdb.DuckDBPyConnection,
    paths: HomePaths,
    *,
    built_at: datetime,
    published_at: datetime,
    max_parts: int = MAX_PARTS,
    part_rows: int = PART_ROWS,
) -> PublishResult:
    """Write serving.duckdb from the warehouse's marts; `built_at` is the as-of time of the build.

    The caller holds the writer lock."""
    paths.ensure()
    remove_publish_leftovers(paths)
    version = published_at.strftime("%Y%m%dT%H%M%S%fZ")
    tmp = paths.home / f".serving-{version}.duckdb"
    tmp.unlink(missing_ok=True)
    relations = con.execute(
        "select table_name, table_type from information_schema.tables where table_schema = 'marts' order by 1"
    ).fetchall()
    names = [name for name, _ in relations]
    plan = plan_and_write(con, paths, max_parts=max_parts, part_rows=part_rows) if "events" in names else None
    previous = previous_parts(con) if plan is not None else set()
    con.execute(f"attach {path_literal(tmp)} as snap")
    try:
        con.execute("create schema snap.marts")
        for name, _ in relations:
            if name == "events":
                continue
            con.execute(f"create table snap.marts.{_quote(name)} as select * from marts.{_quote(name)}")
        events = 0
        if plan is not None:
            con.execute(f"create view snap.marts.events as {events_view_sql(paths, plan.parts)}")
            write_manifest(con, "snap")
            events = plan.events
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
    # A reader of the snapshot just replaced keeps its parts until the next publish; after a redaction
    # no older copy of the log may keep its text, so only the new snapshot's parts stay.
    keep = set(plan.parts if plan is not None else [])
    if not paths.redaction_marker.exists():
        keep |= previous
    remove_unlisted(paths, keep)
    # The single-file event log an earlier publish wrote: the snapshot just replaced may still read the
    # newest one (it has no manifest), under the same rule as parts.
    legacy = sorted(paths.snapshots.glob("events-*.parquet"))
    grace = 0 if previous or paths.redaction_marker.exists() else 1
    for old in legacy[: len(legacy) - grace]:
        old.unlink(missing_ok=True)
    tables = [n for n in names if n != "events"]
    if "memory_atoms" in names:
        tables += ["memory_search", "memory_search_postings", "memory_search_org_stats"]
    written = plan.rows_written if plan is not None else 0
    return PublishResult(version, paths.serving, tables, events, written, plan.merged if plan else 0)


def _index_memory(snapshot: Path) -> None:
    """Build the BM25 search index over live atoms inside the new snapshot file, before it goes live."""
    con = duckdb.connect(str(snapshot))
    try:
        build_index(con)
    finally:
        con.close()
