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
import polars as pl

from dagster_project.control import outbox_reports
from dagster_project.control.faults import checkpoint
from dagster_project.memory.search import build_index
from dagster_project.settings import HomePaths
from dagster_project.sla import alerts
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

    Call only while holding the writer lock: every writer of such files (publish, the alert patch, the
    warehouse rewrite) holds it, so none of them can be in the middle of writing one.
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
        _publish_outbox(con, paths, published_at)
        if "memory_atoms" in names:
            _publish_memory_health(con, built_at, published_at)
        alerts.write_alerts_table(con, "snap.marts", paths.control)
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
    tables = [n for n in names if n != "events"] + ["outbox_health", "dead_letters", "alerts"]
    if "memory_atoms" in names:
        tables += ["memory_health", "memory_search", "memory_search_postings", "memory_search_org_stats"]
    return PublishResult(version, paths.serving, tables, events)


def _publish_memory_health(
    con: duckdb.DuckDBPyConnection, built_at: datetime, published_at: datetime
) -> None:
    """`memory_health` per org: memory work still queued in the outbox (every event may carry memory),
    the age of the cards (rebuilt with each snapshot: publish time − as-of time) and live atoms per type."""
    con.execute(
        """create table snap.marts.memory_health as
           with orgs as (
               select org_id from snap.marts.memory_atoms union select org_id from publish_outbox_health
           ),
           atoms as (
               select org_id,
                      count(*) filter (where atom_type = 'decision') as atoms_decision,
                      count(*) filter (where atom_type = 'risk') as atoms_risk,
                      count(*) filter (where atom_type = 'preference') as atoms_preference,
                      count(*) filter (where atom_type = 'note') as atoms_note,
                      count(*) filter (where atom_type = 'status') as atoms_status,
                      count(*) as atoms_live
               from snap.marts.memory_atoms group by org_id
           )
           select orgs.org_id,
                  coalesce(h.pending, 0) as pending_memory_events,
                  h.oldest_pending_age_s,
                  epoch($published) - epoch($built) as oldest_card_age_s,
                  coalesce(a.atoms_live, 0) as atoms_live,
                  coalesce(a.atoms_decision, 0) as atoms_decision,
                  coalesce(a.atoms_risk, 0) as atoms_risk,
                  coalesce(a.atoms_preference, 0) as atoms_preference,
                  coalesce(a.atoms_note, 0) as atoms_note,
                  coalesce(a.atoms_status, 0) as atoms_status
           from orgs
           left join publish_outbox_health h using (org_id)
           left join atoms a using (org_id)
           order by orgs.org_id""",
        {"published": published_at, "built": built_at},
    )


def _index_memory(snapshot: Path) -> None:
    """Build the BM25 search index over live atoms inside the new snapshot file, before it goes live."""
    con = duckdb.connect(str(snapshot))
    try:
        build_index(con)
    finally:
        con.close()


def _publish_outbox(con: duckdb.DuckDBPyConnection, paths: HomePaths, now: datetime) -> None:
    """`outbox_health` and `dead_letters`: operational views of the control store at publish time."""
    health = outbox_reports.health(paths.control, now)
    retrying = outbox_reports.retrying(paths.control)
    frame = pl.DataFrame(
        [
            (
                h.org_id,
                h.pending,
                retrying.get(h.org_id, 0),
                h.oldest_pending_age_s,
                h.dead_lettered,
                h.processed_last_hour,
            )
            for h in health
        ],
        schema={
            "org_id": pl.Utf8,
            "pending": pl.Int64,
            "retrying": pl.Int64,
            "oldest_pending_age_s": pl.Float64,
            "dead_lettered": pl.Int64,
            "processed_last_hour": pl.Int64,
        },
        orient="row",
    )
    con.register("publish_outbox_health", frame.to_arrow())
    con.execute(
        "create table snap.marts.outbox_health as select * from publish_outbox_health order by org_id"
    )
    dead = [
        d for h in health if h.dead_lettered for d in outbox_reports.dead_letters(paths.control, h.org_id)
    ]
    dead_frame = pl.DataFrame(
        [
            (
                d.org_id,
                d.event_id,
                d.entity_type,
                d.entity_id,
                d.occurred_at,
                d.attempts,
                d.last_error,
                d.dead_at,
            )
            for d in dead
        ],
        schema={
            "org_id": pl.Utf8,
            "event_id": pl.Utf8,
            "entity_type": pl.Utf8,
            "entity_id": pl.Utf8,
            "occurred_at": pl.Datetime("us", "UTC"),
            "attempts": pl.Int64,
            "last_error": pl.Utf8,
            "dead_at": pl.Datetime("us", "UTC"),
        },
        orient="row",
    )
    con.register("publish_dead_letters", dead_frame.to_arrow())
    con.execute(
        """create table snap.marts.dead_letters as
           select d.org_id, d.event_id, e.event_name, d.entity_type, d.entity_id, d.occurred_at, d.attempts,
                  d.last_error, d.dead_at
           from publish_dead_letters d left join raw.events e using (org_id, event_id)
           order by d.org_id, d.dead_at, d.event_id"""
    )
