"""The published snapshot asset: what Streamlit and every other reader open."""

import dagster as dg

from dagster_project.defs.alerting import sla_alerts
from dagster_project.defs.resources import RunClockResource, WorkstreamResource
from dagster_project.defs.transform import workstream_dbt_assets
from dagster_project.memory.governance import rewrite_duckdb_file
from dagster_project.serving.past_snapshots import scrub_past_snapshots
from dagster_project.serving.publish import publish_snapshot
from dagster_project.warehouse.store import connect, writer_lock

MART_KEYS = sorted(
    (
        key
        for key in workstream_dbt_assets.keys
        if "marts" in workstream_dbt_assets.specs_by_key[key].group_name
    ),
    key=lambda k: k.to_user_string(),
)


# After the alert step: the run's alerts are recorded (and copied for dbt's `marts.alerts`) before the one
# write of the snapshot. A job without the alert step (a past snapshot) publishes without waiting for it.
@dg.asset(deps=[*MART_KEYS, sla_alerts], group_name="serving", compute_kind="duckdb")
def serving_snapshot(
    context: dg.AssetExecutionContext, workstream: WorkstreamResource, clock: RunClockResource
) -> dg.MaterializeResult:
    """`<home>/serving.duckdb` with every mart in schema `marts`, replaced atomically (new file + rename)."""
    paths = workstream.paths
    with writer_lock(paths.writer_lock):
        con = connect(paths.warehouse)
        try:
            result = publish_snapshot(con, paths, built_at=clock.as_of_time(), published_at=clock.current())
        finally:
            con.close()
        if paths.redaction_marker.exists():
            # dbt rebuilt the marts without the redacted text; old blocks of the file may still hold it.
            rewrite_duckdb_file(paths.warehouse)
            # Erased is erased: past snapshots under <home>/as-of/ lose the scrubbed text too.
            past = scrub_past_snapshots(paths)
            paths.redaction_marker.unlink()
            context.log.info(
                f"redaction: warehouse file rewritten, event-log parts that held the text rewritten and "
                f"older ones removed, {past} past snapshot(s) scrubbed"
            )
    context.log.info(
        f"published snapshot {result.version} with {result.events} events "
        f"({result.events_written} written to new parts, {result.parts_merged} part(s) merged)"
    )
    return dg.MaterializeResult(
        metadata={
            "snapshot_version": result.version,
            "path": str(result.path),
            "events": result.events,
            "events_written": result.events_written,
            "tables": ", ".join(result.tables),
        }
    )
