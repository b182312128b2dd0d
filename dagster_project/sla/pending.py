"""Which clocks need an alert, decided inside DuckDB (the alert step and the breach sensor).

`alerts.pending_alerts` of `alerts.read_clocks` reads every breached or met clock into Python and hashes
its alert id there; a large history has six figures of alerted breaches, so every run and every sensor
tick paid for all of them. Here the ids are computed in SQL, the same text `alerts.alert_id` hashes, and
anti-joined with the recorded ones: only the clocks with an alert still to record leave DuckDB.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import duckdb
import pyarrow as pa

from dagster_project.serving import reader
from dagster_project.sla.alerts import Breach
from dagster_project.warehouse.store import connect as connect_warehouse

# An alert id computed in DuckDB, the same text as `alert_id` hashes: the clock's deadline as
# `outbox.to_text` writes it (fixed-width UTC with microseconds).
_SQL_ID = (
    "left(sha256(concat_ws(chr(31), org_id, '{kind}', item_type, item_id, metric, "
    "strftime(timezone('UTC', deadline_at), '%Y-%m-%dT%H:%M:%S.%fZ'))), 32)"
)


@dataclass(frozen=True)
class Pending:
    """What one read of the clocks leaves to record, and how many breaches crossed since a time."""

    todo: list[tuple[str, Breach]]
    crossed: int


def _pending_from(
    con: duckdb.DuckDBPyConnection, known: list[str], now: datetime, since: datetime | None = None
) -> Pending:
    """`alerts.pending_alerts` of `alerts.read_clocks`' clocks, decided inside DuckDB: only the clocks with an
    alert still to record come out, so a run's Python work grows with its new alerts, not with every
    breach ever alerted (a large import leaves six figures of them)."""
    exists = con.execute(
        "select count(*) from information_schema.tables "
        "where table_catalog = current_database() and table_schema = 'marts' and table_name = 'sla_clocks'"
    ).fetchone()[0]
    if not exists:
        return Pending([], 0)
    con.register("known_alert_ids", pa.table({"alert_id": pa.array(known, pa.string())}))
    try:
        rows = con.execute(
            f"""
            with clocks as (
                select org_id, item_type, item_id, metric, started_at, deadline_at,
                       coalesce(stopped_at <= deadline_at, false) as met,
                       {_SQL_ID.format(kind="breach")} as breach_id
                from marts.sla_clocks
                where (stopped_at is null and deadline_at < $now) or stopped_at is not null
            )
            select 'breach' as kind, org_id, item_type, item_id, metric, started_at, deadline_at
            from clocks
            where not met and breach_id not in (select alert_id from known_alert_ids)
            union all
            select 'retraction', org_id, item_type, item_id, metric, started_at, deadline_at
            from clocks
            where met and breach_id in (select alert_id from known_alert_ids)
              and {_SQL_ID.format(kind="retraction")} not in (select alert_id from known_alert_ids)
            """,
            {"now": now},
        ).fetchall()
        crossed = con.execute(
            """select count(*) from marts.sla_clocks
               where ((stopped_at is null and deadline_at < $now) or stopped_at > deadline_at)
                 and ($since::timestamptz is null or deadline_at > $since::timestamptz)""",
            {"now": now, "since": since},
        ).fetchone()[0]
    finally:
        con.unregister("known_alert_ids")
    todo = [(kind, Breach(*fields)) for kind, *fields in rows]
    todo.sort(key=lambda kb: (kb[1].org_id, kb[1].breached_at, kb[1].item_id, kb[1].metric, kb[0]))
    return Pending(todo, crossed)


def known_alert_ids(con: sqlite3.Connection) -> list[str]:
    return [r[0] for r in con.execute("select alert_id from alerts where alert_id is not null")]


def pending_from_build(
    warehouse: Path, as_of: datetime, control: sqlite3.Connection
) -> list[tuple[str, Breach]]:
    """The alerts the run's build leaves to record (`alerts.read_build_clocks` then `alerts.pending_alerts`, in one
    query); the caller holds the writer lock."""
    if not warehouse.exists():
        return []
    known = known_alert_ids(control)
    con = connect_warehouse(warehouse, read_only=True)
    try:
        return _pending_from(con, known, as_of).todo
    finally:
        con.close()


def pending_from_snapshot(
    snapshot: Path, now: datetime, control: sqlite3.Connection | None, since: datetime | None = None
) -> Pending:
    """The alerts the published snapshot's clocks leave to record (the breach sensor, between runs),
    and how many breaches crossed their deadline after `since`."""
    if not snapshot.exists():
        return Pending([], 0)
    known = known_alert_ids(control) if control is not None else []
    return reader.run(snapshot, lambda con: _pending_from(con, known, now, since), scope=reader.SYSTEM)
