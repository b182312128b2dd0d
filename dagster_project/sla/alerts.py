"""SLA breach alerts: noticed from the dbt-built clocks, recorded exactly once, delivered to every sink.

Breaches are facts derived from clocks (`marts.sla_clocks`); alerts are an operational log beside them
in the control store. A pipeline run decides its alerts from the warehouse's clocks before it publishes
(`why_not_alert_from_build`, `read_clocks` on the warehouse), copies the log into the warehouse's
`control.alerts` (`write_alerts_table`), and dbt serves it as `marts.alerts`; the breach sensor reads the
published snapshot's clocks between runs (`why_not_alert_from`). An alert's id hashes what it is about (org, kind, item, metric, breach moment), so
recording is `INSERT OR IGNORE`: a tick or run that re-reads the same clocks never alerts twice.

- A clock past its deadline and not stopped, or stopped after it, is a breach (as of now, from the
  clocks' deadlines, so a crossing needs no rebuild to be noticed).
- Alerts are about now: a run whose as-of is in the past, or a build or snapshot made as of a past
  time (its as-of earlier than its run's clock), records and delivers none.
- A breach alerted earlier whose clock now shows a stop at or before the deadline (a late event) gets
  a retraction alert.
- A breach older than `max_age` when first noticed is recorded as `suppressed`: a backfill pages nobody.

Sinks: `table` (the `alerts` output), `log`, and an optional `webhook` (JSON POST, retried with
exponential backoff across attempts; an unreachable webhook only delays its own deliveries).
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import requests

from dagster_project.control import outbox
from dagster_project.control.export import ALERT_COLUMNS, ensure_control_schema
from dagster_project.serving import reader
from dagster_project.settings import as_of_is_past
from dagster_project.warehouse.store import connect as connect_warehouse
from dagster_project.warehouse.store import read_run_clock

log = logging.getLogger("workstream.alerts")

SCHEMA = """
create table if not exists alerts (
    alert_id text primary key,
    org_id text not null,
    kind text not null check (kind in ('breach', 'retraction')),
    item_type text not null,
    item_id text not null,
    metric text not null,
    started_at text not null,
    breached_at text not null,
    created_at text not null,
    status text not null check (status in ('active', 'suppressed'))
);
create table if not exists alert_deliveries (
    alert_id text not null,
    sink text not null,
    status text not null check (status in ('pending', 'delivered', 'failed')),
    attempts integer not null default 0,
    next_attempt_at text not null,
    delivered_at text,
    last_error text,
    primary key (alert_id, sink)
);
create index if not exists alert_deliveries_due on alert_deliveries (next_attempt_at) where status = 'pending';
"""

DEFAULT_MAX_AGE = timedelta(hours=24)
WEBHOOK_MAX_ATTEMPTS = 6
WEBHOOK_TIMEOUT_S = 5.0
DELIVERY_BATCH = 1_000


@dataclass(frozen=True)
class Breach:
    org_id: str
    item_type: str
    item_id: str
    metric: str
    started_at: datetime
    breached_at: datetime


@dataclass(frozen=True)
class Alert:
    alert_id: str
    org_id: str
    kind: str
    item_type: str
    item_id: str
    metric: str
    started_at: datetime
    breached_at: datetime
    created_at: datetime
    status: str

    def payload(self) -> dict[str, Any]:
        return {
            "alert_id": self.alert_id,
            "org_id": self.org_id,
            "kind": self.kind,
            "item_type": self.item_type,
            "item_id": self.item_id,
            "metric": self.metric,
            "started_at": self.started_at.isoformat(),
            "breached_at": self.breached_at.isoformat(),
            "created_at": self.created_at.isoformat(),
        }


def alert_id(kind: str, b: Breach) -> str:
    text = "\x1f".join((b.org_id, kind, b.item_type, b.item_id, b.metric, outbox.to_text(b.breached_at)))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def connect(path: Path) -> sqlite3.Connection:
    con = sqlite3.connect(path, timeout=30, isolation_level=None)
    con.execute("pragma journal_mode=wal")
    con.executescript(SCHEMA)
    return con


# ------------------------------------------------------------------------------------------ detection


def _snapshot_times(con: duckdb.DuckDBPyConnection) -> tuple[datetime, datetime] | None:
    exists = con.execute(
        "select count(*) from information_schema.tables "
        "where table_catalog = current_database() and table_schema = 'marts' and table_name = 'snapshot_info'"
    ).fetchone()[0]
    if not exists:
        return None
    row = con.execute("select built_at, published_at from marts.snapshot_info").fetchone()
    return None if row is None or None in row else (row[0], row[1])


def snapshot_times(snapshot: Path) -> tuple[datetime, datetime] | None:
    """(`built_at`, `published_at`) of a published snapshot, or None when it has no `marts.snapshot_info`."""
    return reader.run(snapshot, _snapshot_times, scope=reader.SYSTEM)


def why_not_alert_from(snapshot: Path) -> str | None:
    """Why a snapshot's clocks must not raise alerts, or None when they may.

    Alerts are about now: only a snapshot built as of its own clock (`built_at` within the as-of
    tolerance of `published_at`) says which clocks are open now. A past view (`workstream run --as-of`
    in the past) shows clocks that were open then and may have been met since.
    """
    if not snapshot.exists():
        return None
    times = snapshot_times(snapshot)
    if times is None:
        return f"{snapshot.name} has no marts.snapshot_info, so the time it was built as of is unknown"
    built_at, published_at = times
    if as_of_is_past(built_at, published_at):
        return (
            f"{snapshot.name} was built as of {built_at.isoformat()}, earlier than its clock "
            f"({published_at.isoformat()}); alerts are about now"
        )
    return None


def _clocks_from(con: duckdb.DuckDBPyConnection, now: datetime) -> tuple[list[Breach], list[Breach]]:
    """(breaches as of `now`, clocks known to have been met) from `marts.sla_clocks` of `con`'s database."""
    exists = con.execute(
        "select count(*) from information_schema.tables "
        "where table_catalog = current_database() and table_schema = 'marts' and table_name = 'sla_clocks'"
    ).fetchone()[0]
    if not exists:
        return [], []
    rows = con.execute(
        """select org_id, item_type, item_id, metric, started_at, deadline_at, stopped_at
           from marts.sla_clocks
           where (stopped_at is null and deadline_at < $now) or stopped_at is not null""",
        {"now": now},
    ).fetchall()
    breaches, met = [], []
    for org_id, item_type, item_id, metric, started_at, deadline_at, stopped_at in rows:
        b = Breach(org_id, item_type, item_id, metric, started_at, deadline_at)
        if stopped_at is not None and stopped_at <= deadline_at:
            met.append(b)
        else:
            breaches.append(b)
    return breaches, met


def read_clocks(snapshot: Path, now: datetime) -> tuple[list[Breach], list[Breach]]:
    """The published snapshot's clocks (the breach sensor, between runs), through the snapshot reader."""
    if not snapshot.exists():
        return [], []
    return reader.run(snapshot, lambda con: _clocks_from(con, now), scope=reader.SYSTEM)


def read_build_clocks(warehouse: Path, as_of: datetime) -> tuple[list[Breach], list[Breach]]:
    """The clocks the run's dbt build just wrote into the warehouse (the alert step, before the publish);
    the caller holds the writer lock."""
    if not warehouse.exists():
        return [], []
    con = connect_warehouse(warehouse, read_only=True)
    try:
        return _clocks_from(con, as_of)
    finally:
        con.close()


def pending_alerts(
    con: sqlite3.Connection, breaches: Iterable[Breach], met: Iterable[Breach]
) -> list[tuple[str, Breach]]:
    """(kind, breach) pairs not yet recorded: new breaches, and retractions of alerted breaches now met."""
    known = {r[0] for r in con.execute("select alert_id from alerts")}
    todo = [("breach", b) for b in breaches if alert_id("breach", b) not in known]
    todo += [
        ("retraction", b)
        for b in met
        if alert_id("breach", b) in known and alert_id("retraction", b) not in known
    ]
    return sorted(todo, key=lambda kb: (kb[1].org_id, kb[1].breached_at, kb[1].item_id, kb[1].metric, kb[0]))


def record(
    con: sqlite3.Connection,
    todo: Iterable[tuple[str, Breach]],
    *,
    now: datetime,
    sinks: Iterable[str],
    max_age: timedelta = DEFAULT_MAX_AGE,
) -> list[Alert]:
    """Record alerts (exactly once by id) with a pending delivery per sink; too-old breaches are suppressed."""
    created: list[Alert] = []
    stamp = outbox.to_text(now)
    sinks = list(sinks)
    con.execute("begin immediate")
    try:
        for kind, b in todo:
            if kind == "breach":
                suppressed = now - b.breached_at > max_age
            else:  # a retraction pages only if its breach did
                row = con.execute(
                    "select status from alerts where alert_id = ?", (alert_id("breach", b),)
                ).fetchone()
                suppressed = row is not None and row[0] == "suppressed"
            a = Alert(
                alert_id(kind, b),
                b.org_id,
                kind,
                b.item_type,
                b.item_id,
                b.metric,
                b.started_at,
                b.breached_at,
                now,
                "suppressed" if suppressed else "active",
            )
            cur = con.execute(
                "insert or ignore into alerts values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    a.alert_id,
                    a.org_id,
                    a.kind,
                    a.item_type,
                    a.item_id,
                    a.metric,
                    outbox.to_text(a.started_at),
                    outbox.to_text(a.breached_at),
                    stamp,
                    a.status,
                ),
            )
            if cur.rowcount == 0:
                continue
            created.append(a)
            for sink in sinks if not suppressed else ["table"]:
                con.execute(
                    "insert or ignore into alert_deliveries (alert_id, sink, status, next_attempt_at)"
                    " values (?, ?, 'pending', ?)",
                    (a.alert_id, sink, stamp),
                )
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    return created


# ------------------------------------------------------------------------------------------- delivery

Poster = Callable[[str, dict[str, Any]], None]


def post_json(url: str, body: dict[str, Any]) -> None:
    """The webhook sink's HTTP call: a JSON POST; any non-2xx status is a failure."""
    response = requests.post(url, json=body, timeout=WEBHOOK_TIMEOUT_S)
    response.raise_for_status()


def webhook_backoff(attempts: int) -> timedelta:
    """30 s, 1, 2, 4, 8 minutes … between webhook attempts (capped at 30 minutes)."""
    return timedelta(seconds=min(30 * 2 ** (attempts - 1), 1800))


@dataclass
class DeliveryReport:
    delivered: int = 0
    retrying: int = 0
    failed: int = 0


def deliver(
    con: sqlite3.Connection,
    *,
    now: datetime,
    webhook_url: str | None,
    post: Poster = post_json,
    logger: Callable[[str], Any] = log.warning,
) -> DeliveryReport:
    """Deliver every due pending delivery once; failures back off; a webhook never blocks other sinks."""
    stamp = outbox.to_text(now)
    due = con.execute(
        """select d.alert_id, d.sink, d.attempts, a.org_id, a.kind, a.item_type, a.item_id, a.metric,
                  a.started_at, a.breached_at, a.created_at, a.status
           from alert_deliveries d join alerts a using (alert_id)
           where d.status = 'pending' and d.next_attempt_at <= ? order by a.created_at, d.alert_id, d.sink""",
        (stamp,),
    ).fetchall()
    report = DeliveryReport()
    if not due:
        return report
    # Each autocommitted update would be a transaction of its own, synced to disk: a first run's
    # backlog of table and log deliveries is written in transactions of DELIVERY_BATCH updates, short
    # enough that the outbox's writers on the same file (which expect millisecond locks) never time out.
    # The transaction is committed before each webhook call, so no write lock is held over the network
    # and a posted delivery's state is committed as before (one at a time).
    con.execute("begin immediate")
    batched = 0
    try:
        for alert_id_, sink, attempts, *fields in due:
            if batched >= DELIVERY_BATCH:
                con.execute("commit")
                con.execute("begin immediate")
                batched = 0
            a = Alert(
                alert_id_,
                fields[0],
                fields[1],
                fields[2],
                fields[3],
                fields[4],
                outbox.from_text(fields[5]),
                outbox.from_text(fields[6]),
                outbox.from_text(fields[7]),
                fields[8],
            )
            if sink == "webhook" and con.in_transaction:
                con.execute("commit")
            error = None
            try:
                if sink == "log":
                    logger(
                        f"SLA {a.kind}: {a.org_id} {a.item_type} {a.item_id} {a.metric} deadline {a.breached_at.isoformat()}"
                    )
                elif sink == "webhook":
                    if not webhook_url:
                        raise RuntimeError("no webhook URL configured")
                    post(webhook_url, a.payload())
            except Exception as exc:  # any sink failure is recorded and retried, never raised
                error = f"{type(exc).__name__}: {exc}"[:500]
            _record_attempt(con, report, alert_id_, sink, attempts + 1, error, now)
            batched += 1
            if sink == "webhook":
                con.execute("begin immediate")
                batched = 0
        con.execute("commit")
    except BaseException:
        if con.in_transaction:
            con.execute("rollback")
        raise
    return report


def _record_attempt(
    con: sqlite3.Connection,
    report: DeliveryReport,
    alert_id_: str,
    sink: str,
    attempts: int,
    error: str | None,
    now: datetime,
) -> None:
    """One delivery attempt's outcome: delivered, failed for good, or due again after its backoff."""
    stamp = outbox.to_text(now)
    if error is None:
        con.execute(
            "update alert_deliveries set status = 'delivered', attempts = ?, delivered_at = ?, last_error = null"
            " where alert_id = ? and sink = ?",
            (attempts, stamp, alert_id_, sink),
        )
        report.delivered += 1
    elif attempts >= WEBHOOK_MAX_ATTEMPTS:
        con.execute(
            "update alert_deliveries set status = 'failed', attempts = ?, last_error = ? where alert_id = ? and sink = ?",
            (attempts, error, alert_id_, sink),
        )
        report.failed += 1
    else:
        con.execute(
            "update alert_deliveries set attempts = ?, last_error = ?, next_attempt_at = ?"
            " where alert_id = ? and sink = ?",
            (attempts, error, outbox.to_text(now + webhook_backoff(attempts)), alert_id_, sink),
        )
        report.retrying += 1


def alert_rows(con: sqlite3.Connection) -> list[tuple]:
    """The `alerts` output: one row per alert and sink (`delivered_at` null while pending or failed)."""
    return con.execute(
        """select a.org_id, a.alert_id, a.kind, a.item_type, a.item_id, a.metric, a.started_at, a.breached_at,
                  a.created_at, d.delivered_at, d.sink, d.status, d.attempts, d.last_error, a.status
           from alerts a join alert_deliveries d using (alert_id)
           order by a.org_id, a.created_at, a.alert_id, d.sink"""
    ).fetchall()


def sinks_for(webhook_url: str | None) -> list[str]:
    return ["table", "log"] + (["webhook"] if webhook_url else [])


# Which state of the control store's alert log `control.alerts` holds, so an unchanged log is not
# copied again: every run copies it twice (after the apply and after the alert step), and a large
# history's log is six figures of rows.
ALERTS_COPIED_DDL = "create table if not exists control.alerts_copied (fingerprint varchar not null)"


def alert_log_fingerprint(con: sqlite3.Connection) -> str:
    """Changes whenever the alert log does: alerts and deliveries are only ever inserted, and every
    update of a delivery counts one more attempt."""
    row = con.execute(
        """select (select count(*) from alerts), (select max(created_at) from alerts),
                  (select count(*) from alert_deliveries), (select total(attempts) from alert_deliveries),
                  (select max(next_attempt_at) from alert_deliveries),
                  (select max(delivered_at) from alert_deliveries)"""
    ).fetchone()
    return "|".join("" if v is None else str(v) for v in row)


def write_alerts_table(con: duckdb.DuckDBPyConnection, control_path: Path) -> int:
    """Replace the warehouse's `control.alerts` (dbt's source for `marts.alerts`) by the control store's
    alert log, in one transaction, unless it already holds this state of the log; returns the row count."""
    ensure_control_schema(con)
    con.execute(ALERTS_COPIED_DDL)
    with connect_path(control_path) as sq:
        sq.execute("begin")  # the fingerprint and the rows from one state of the log
        try:
            fingerprint = alert_log_fingerprint(sq)
            if con.execute("select fingerprint from control.alerts_copied").fetchall() == [(fingerprint,)]:
                return con.execute("select count(*) from control.alerts").fetchone()[0]
            rows = alert_rows(sq)
        finally:
            sq.execute("commit")
    columns = [spec.split() for spec in ALERT_COLUMNS.split(", ")]
    # One columnar insert: DuckDB's executemany goes row by row.
    frame = pl.DataFrame(
        rows,
        schema={name: pl.Int64 if kind == "integer" else pl.Utf8 for name, kind in columns},
        orient="row",
    )
    con.register("alert_rows_frame", frame.to_arrow())
    try:
        select = ", ".join(f"cast({name} as {kind})" for name, kind in columns)
        con.execute("begin")
        con.execute("delete from control.alerts")
        con.execute(f"insert into control.alerts select {select} from alert_rows_frame")
        con.execute("delete from control.alerts_copied")
        con.execute("insert into control.alerts_copied values (?)", [fingerprint])
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    finally:
        con.unregister("alert_rows_frame")
    return len(rows)


def why_not_alert_from_build(warehouse: Path) -> str | None:
    """Why the warehouse's last build must not raise alerts, or None when it may.

    Alerts are about now: only a build computed as of its own run's clock (`core.run_clock`, within the
    as-of tolerance) says which clocks are open now; a past view's run (`workstream run --as-of` in the
    past) shows clocks that were open then and may have been met since.
    """
    if not warehouse.exists():
        return None
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        con.execute("SET TimeZone = 'UTC'")
        clock = read_run_clock(con)
    finally:
        con.close()
    if clock is None:
        return f"{warehouse.name} has no core.run_clock, so the time it was built as of is unknown"
    as_of, now = clock
    if as_of_is_past(as_of, now):
        return (
            f"{warehouse.name} was built as of {as_of.isoformat()}, earlier than its run's clock "
            f"({now.isoformat()}); alerts are about now"
        )
    return None


@contextmanager
def connect_path(path: Path) -> Iterator[sqlite3.Connection]:
    con = connect(path)
    try:
        yield con
    finally:
        con.close()
