"""SLA breach alerts: the breach-detector sensor and the run that records and delivers alerts."""

import hashlib
import json
import os
from datetime import datetime, timedelta

import dagster as dg

from dagster_project.defs.resources import RunClockResource, WorkstreamResource
from dagster_project.defs.run_slots import WRITER_TAGS
from dagster_project.settings import HomePaths, default_clock, home_from_env
from dagster_project.sla import alerts, pending
from dagster_project.warehouse.store import connect, writer_lock

# The dbt model the alerts are decided from.
SLA_CLOCKS = dg.AssetKey(["marts", "sla_clocks"])

ACTIVE = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]


class AlertSinksResource(dg.ConfigurableResource):
    """Where alerts go besides the `alerts` table and the log; empty values come from the environment."""

    webhook_url: str = ""
    max_age_hours: float = 0.0

    def url(self) -> str | None:
        return self.webhook_url or os.environ.get("WORKSTREAM_ALERT_WEBHOOK") or None

    def max_age(self) -> timedelta:
        hours = self.max_age_hours or float(os.environ.get("WORKSTREAM_ALERT_MAX_AGE_HOURS", "24"))
        return timedelta(hours=hours)


@dg.asset(deps=[SLA_CLOCKS], group_name="alerting", compute_kind="python")
def sla_alerts(
    context: dg.AssetExecutionContext,
    workstream: WorkstreamResource,
    clock: RunClockResource,
    alert_sinks: AlertSinksResource,
) -> dg.MaterializeResult:
    """Record an alert for each new breach (and each retraction) exactly once; deliver to every sink.

    Reads the clocks dbt built into the warehouse, so in a pipeline run it decides the run's alerts
    before the publish, and the snapshot that run publishes serves them (`marts.alerts`, from the
    warehouse's `control.alerts` that this step refreshes). The breach sensor's job runs it alone when
    a deadline passes between runs. Too-old breaches are recorded as suppressed (a backfill pages nobody).
    """
    paths = workstream.paths
    now, as_of = clock.current(), clock.as_of_time()
    created: list[alerts.Alert] = []
    report = alerts.DeliveryReport()
    todo: list[tuple[str, alerts.Breach]] = []
    # The warehouse is read and written under the writer lock (a build may be writing it); recording and
    # delivering are not, so a slow webhook never holds up a pipeline run.
    with writer_lock(paths.writer_lock):
        if clock.is_past():
            skipped = f"as-of {as_of.isoformat()} is earlier than the clock ({now.isoformat()}): alerts are about now"
        else:
            skipped = alerts.why_not_alert_from_build(paths.warehouse)
        if not skipped:
            # Which clocks are breached is read at the run's as-of, the time its build was computed for;
            # when alerts were recorded and delivered is operational and stays on the clock.
            with alerts.connect_path(paths.control) as con:
                todo = pending.pending_from_build(paths.warehouse, as_of, con)
    if skipped:
        # Not even due retries are delivered: a past view must not page anyone, and its run leaves the
        # control store's alerts (and so the snapshot's) exactly as they were.
        context.log.info(f"no alerts recorded or delivered: {skipped}")
    else:
        url = alert_sinks.url()
        with alerts.connect_path(paths.control) as con:
            created = alerts.record(
                con, todo, now=now, sinks=alerts.sinks_for(url), max_age=alert_sinks.max_age()
            )
            # The log sink writes to the process log (captured by Dagster), not the run event log: a
            # burst of breaches must not become thousands of event-log rows.
            report = alerts.deliver(con, now=now, webhook_url=url)
    rows = 0
    with writer_lock(paths.writer_lock):
        if paths.warehouse.exists():
            # The next publish serves the control store's log as it is now (dbt's `marts.alerts` view).
            con = connect(paths.warehouse)
            try:
                rows = alerts.write_alerts_table(con, paths.control)
            finally:
                con.close()
    if skipped:
        return dg.MaterializeResult(metadata={"new_alerts": 0, "skipped": skipped, "alert_rows": rows})
    active = sum(a.status == "active" for a in created)
    context.log.info(
        f"{len(created)} new alert(s) ({active} active, {len(created) - active} suppressed); "
        f"deliveries: {report.delivered} delivered, {report.retrying} retrying, {report.failed} failed"
    )
    return dg.MaterializeResult(
        metadata={
            "new_alerts": len(created),
            "suppressed": len(created) - active,
            "delivered": report.delivered,
            "retrying": report.retrying,
            "failed": report.failed,
            "alert_rows": rows,
        }
    )


sla_alert_job = dg.define_asset_job(
    "sla_alert_job",
    selection=dg.AssetSelection.assets(sla_alerts),
    description="Record and deliver SLA breach alerts from the last build's clocks (no rebuild, no publish).",
    tags=WRITER_TAGS,
    executor_def=dg.in_process_executor,
)


@dg.sensor(
    name="sla_breach_sensor",
    job=sla_alert_job,
    minimum_interval_seconds=int(os.environ.get("WORKSTREAM_BREACH_INTERVAL", "60")),
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def sla_breach_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult | dg.SkipReason:
    """Clocks past their deadline (or retracted by a late stop) with no alert yet → one alert run.

    The cursor is the last tick's time: the tick reports how many deadlines passed since then. Alerts
    are keyed by what they are about, so a re-read tick or a repeated run never alerts twice.
    """
    paths = HomePaths(home_from_env())
    skipped = alerts.why_not_alert_from(paths.serving)
    if skipped:
        return dg.SkipReason(f"no alerts from this snapshot: {skipped}")
    now = default_clock().now()
    cursor = json.loads(context.cursor) if context.cursor else {}
    since = datetime.fromisoformat(cursor["last_tick"]) if cursor.get("last_tick") else None
    if not paths.control.exists():
        found = pending.pending_from_snapshot(paths.serving, now, None, since)
    else:
        with alerts.connect_path(paths.control) as con:
            found = pending.pending_from_snapshot(paths.serving, now, con, since)
    todo, crossed = found.todo, found.crossed
    new_cursor = json.dumps({"last_tick": now.isoformat()})
    if not todo:
        return dg.SensorResult(
            skip_reason=dg.SkipReason(f"no new breaches ({crossed} crossed since last tick)"),
            cursor=new_cursor,
        )
    active = (
        context.instance.get_run_records(dg.RunsFilter(job_name=sla_alert_job.name, statuses=ACTIVE), limit=1)
        if context.instance
        else []
    )
    if active:
        return dg.SkipReason(f"{len(todo)} alert(s) pending; an alert run is already going")
    ids = sorted(alerts.alert_id(kind, b) for kind, b in todo)
    return dg.SensorResult(
        run_requests=[
            dg.RunRequest(
                run_key=None,
                tags={
                    "workstream/trigger": "sla_breach_sensor",
                    "workstream/pending_alerts": str(len(todo)),
                    "workstream/alerts_hash": hashlib.sha256("".join(ids).encode()).hexdigest()[:16],
                },
            )
        ],
        cursor=new_cursor,
    )
