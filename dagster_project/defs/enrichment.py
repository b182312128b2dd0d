"""Enrichment through MCP (docs/mcp.md): the asset that calls the operator's servers, its job, and the
sensor that launches it once a snapshot is published or queued calls are due again.

The calls run in a job of their own, after the publish: the snapshot never waits for an enrichment
server, and the answers reach the inbox, where the next drop's run ingests them. `workstream run`
executes the same job in-process after its build (dagster_project/commands/run.py).
"""

import json
import os
from datetime import timedelta

import dagster as dg

from dagster_project.defs.publishing import serving_snapshot
from dagster_project.defs.resources import RunClockResource, WorkstreamResource
from dagster_project.defs.run_slots import ENRICHMENT_TAGS
from dagster_project.mcp.enrichment import declarations_present, due_items, run_enrichment
from dagster_project.settings import default_clock, home_from_env, parse_timestamp

ACTIVE = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]
# Retries wait out the outbox's backoff (whole minutes) and the orgs' rates (calls a minute): looking
# for due items more often would only launch runs with nothing to call.
RETRY_CHECK = timedelta(minutes=1)


@dg.asset(deps=[serving_snapshot], group_name="enrichment", compute_kind="mcp")
def mcp_enrichment(
    context: dg.AssetExecutionContext, workstream: WorkstreamResource, clock: RunClockResource
) -> dg.MaterializeResult:
    """Queue the new signals and contacts of the orgs that opted in, call their servers within a time
    budget, write the answers to `<inbox>/enrichment/` as contract events. Reads the published snapshot,
    writes neither it nor the warehouse; a failing server fails its own queued calls, never this step."""
    summary = run_enrichment(workstream.paths.home, workstream.inbox_path, clock.current())
    for problem in summary.problems:
        context.log.warning(problem)
    context.log.info(
        f"enrichment: {summary.enqueued} queued, {summary.calls} call(s) {summary.outcomes}, "
        f"{summary.events_written} event(s) written to the inbox"
    )
    return dg.MaterializeResult(
        metadata={
            "enqueued": summary.enqueued,
            "calls": summary.calls,
            "outcomes": dg.MetadataValue.json(summary.outcomes),
            "events_written": summary.events_written,
            "problems": dg.MetadataValue.json(summary.problems),
        }
    )


enrichment_job = dg.define_asset_job(
    "enrichment_job",
    selection=dg.AssetSelection.assets(mcp_enrichment),
    description="Enrichment calls through MCP for the last published snapshot; answers go to the inbox.",
    # Its own run slot: it runs beside the writers, never waiting for one or holding one up.
    tags=ENRICHMENT_TAGS,
    executor_def=dg.in_process_executor,
)


@dg.sensor(
    name="enrichment_sensor",
    job=enrichment_job,
    minimum_interval_seconds=int(os.environ.get("WORKSTREAM_SENSOR_INTERVAL", "5")),
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def enrichment_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult | dg.SkipReason:
    """A snapshot published since the last enrichment → one run (keyed by that publish); otherwise, at
    most once a minute, queued calls whose backoff is over → one run. Nothing declared → nothing."""
    home = home_from_env()
    if not declarations_present(home):
        return dg.SkipReason("no enrichment servers declared")
    instance = context.instance
    if instance.get_run_records(dg.RunsFilter(job_name=enrichment_job.name, statuses=ACTIVE), limit=1):
        return dg.SkipReason("an enrichment run is already queued or in progress")
    published = instance.fetch_materializations(serving_snapshot.key, limit=1).records
    enriched = instance.fetch_materializations(mcp_enrichment.key, limit=1).records
    if published and (not enriched or enriched[0].storage_id < published[0].storage_id):
        storage_id = published[0].storage_id
        return dg.SensorResult(
            run_requests=[
                dg.RunRequest(
                    run_key=f"snapshot-{storage_id}",
                    tags={"workstream/trigger": "snapshot", "workstream/snapshot_event": str(storage_id)},
                )
            ]
        )
    now = default_clock().now()
    cursor = json.loads(context.cursor) if context.cursor else {}
    checked = cursor.get("retries_checked_at")
    if checked is not None and now - parse_timestamp(checked) < RETRY_CHECK:
        return dg.SkipReason("no new snapshot; queued calls were looked at less than a minute ago")
    new_cursor = json.dumps({"retries_checked_at": now.isoformat()})
    due = due_items(home, now)
    if not due:
        return dg.SensorResult(skip_reason=dg.SkipReason("no new snapshot, no calls due"), cursor=new_cursor)
    return dg.SensorResult(
        run_requests=[dg.RunRequest(tags={"workstream/trigger": "retry", "workstream/due": str(due)})],
        cursor=new_cursor,
    )
