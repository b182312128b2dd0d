"""The one Dagster `Definitions` for Workstream."""

from __future__ import annotations

import dagster as dg

from dagster_project.defs.alerting import AlertSinksResource, sla_alert_job, sla_alerts, sla_breach_sensor
from dagster_project.defs.automation import (
    dbt_tests_after_build_sensor,
    dbt_tests_job,
    full_build_job,
    inbox_files_sensor,
    ingest_build_publish_job,
    nightly_rebuild_schedule,
    outbox_due_sensor,
)
from dagster_project.defs.enrichment import enrichment_job, enrichment_sensor, mcp_enrichment
from dagster_project.defs.ingestion import event_ids_unique_per_org, ledger_conserves_lines, raw_ingest
from dagster_project.defs.lifecycle import every_event_accounted_for, lifecycle_apply
from dagster_project.defs.publishing import serving_snapshot
from dagster_project.defs.resources import RunClockResource, WorkstreamResource, build_dbt_resource
from dagster_project.defs.scoring import win_scoring
from dagster_project.defs.transform import workstream_dbt_assets

defs = dg.Definitions(
    assets=[
        raw_ingest,
        lifecycle_apply,
        win_scoring,
        workstream_dbt_assets,
        serving_snapshot,
        sla_alerts,
        mcp_enrichment,
    ],
    asset_checks=[ledger_conserves_lines, event_ids_unique_per_org, every_event_accounted_for],
    jobs=[ingest_build_publish_job, dbt_tests_job, full_build_job, sla_alert_job, enrichment_job],
    sensors=[
        inbox_files_sensor,
        outbox_due_sensor,
        sla_breach_sensor,
        dbt_tests_after_build_sensor,
        enrichment_sensor,
    ],
    schedules=[nightly_rebuild_schedule],
    resources={
        "workstream": WorkstreamResource(),
        "clock": RunClockResource(),
        "dbt": build_dbt_resource(),
        "alert_sinks": AlertSinksResource(),
    },
    executor=dg.in_process_executor,
)
