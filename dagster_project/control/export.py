"""The control store's state, copied into the warehouse's `control` schema for dbt to model.

The outbox and the alert log live in `control.sqlite` (many writers, short transactions), but what
readers see of them is served like everything else: dbt reads these tables as sources (`control.*`) and
builds `marts.outbox_health`, `marts.dead_letters`, `marts.alerts` and `marts.memory_health` with
contracts. The copies are data flowing forward: the apply step (the last writer of the outbox in a run)
copies the outbox's state before dbt runs, and the alert step refreshes `control.alerts` after it
records the run's alerts, before the publish.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import duckdb
import polars as pl

from dagster_project.control import outbox_reports

OUTBOX_HEALTH_SCHEMA = {
    "org_id": pl.Utf8,
    "pending": pl.Int64,
    "retrying": pl.Int64,
    "oldest_pending_age_s": pl.Float64,
    "dead_lettered": pl.Int64,
    "processed_last_hour": pl.Int64,
}
DEAD_LETTER_SCHEMA = {
    "org_id": pl.Utf8,
    "event_id": pl.Utf8,
    "entity_type": pl.Utf8,
    "entity_id": pl.Utf8,
    "occurred_at": pl.Datetime("us", "UTC"),
    "attempts": pl.Int64,
    "last_error": pl.Utf8,
    "dead_at": pl.Datetime("us", "UTC"),
}
# The alert log as served: one row per alert and sink (`delivered_at` null while pending or failed).
ALERT_COLUMNS = (
    "org_id varchar, alert_id varchar, kind varchar, item_type varchar, item_id varchar, metric varchar, "
    "started_at timestamptz, breached_at timestamptz, created_at timestamptz, delivered_at timestamptz, "
    "sink varchar, delivery_status varchar, attempts integer, last_error varchar, alert_status varchar"
)

CONTROL_DDL = f"""
create schema if not exists control;
create table if not exists control.outbox_health (
    org_id varchar, pending bigint, retrying bigint, oldest_pending_age_s double, dead_lettered bigint,
    processed_last_hour bigint
);
create table if not exists control.dead_letters (
    org_id varchar, event_id varchar, event_name varchar, entity_type varchar, entity_id varchar,
    occurred_at timestamptz, attempts bigint, last_error varchar, dead_at timestamptz
);
create table if not exists control.alerts ({ALERT_COLUMNS});
"""


def ensure_control_schema(con: duckdb.DuckDBPyConnection) -> None:
    """The `control` tables, empty until a run copies the control store: dbt's views read them."""
    con.execute(CONTROL_DDL)


def copy_outbox_state(con: duckdb.DuckDBPyConnection, control: Path, now: datetime) -> int:
    """Replace `control.outbox_health` (as of the run's clock `now`) and `control.dead_letters` (with the
    name of the event each is about, from the log) by the outbox's state; returns the dead letters."""
    ensure_control_schema(con)
    health = outbox_reports.health(control, now)
    retrying = outbox_reports.retrying(control)
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
        schema=OUTBOX_HEALTH_SCHEMA,
        orient="row",
    )
    dead = [d for h in health if h.dead_lettered for d in outbox_reports.dead_letters(control, h.org_id)]
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
        schema=DEAD_LETTER_SCHEMA,
        orient="row",
    )
    con.register("control_outbox_health", frame.to_arrow())
    con.register("control_dead_letters", dead_frame.to_arrow())
    try:
        con.execute("begin")
        con.execute("delete from control.outbox_health")
        con.execute("insert into control.outbox_health select * from control_outbox_health")
        con.execute("delete from control.dead_letters")
        con.execute(
            """insert into control.dead_letters
               select d.org_id, d.event_id, e.event_name, d.entity_type, d.entity_id, d.occurred_at,
                      d.attempts, d.last_error, d.dead_at
               from control_dead_letters d left join raw.events e using (org_id, event_id)"""
        )
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    finally:
        con.unregister("control_outbox_health")
        con.unregister("control_dead_letters")
    return len(dead)
