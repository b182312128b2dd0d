"""Dagster definitions load with every asset, check, job, sensor and schedule named as documented."""

from __future__ import annotations

import dagster as dg

from dagster_project.definitions import defs


def test_definitions_load():
    dg.Definitions.validate_loadable(defs)


def test_asset_keys_and_groups():
    keys = {k.to_user_string() for k in defs.resolve_all_asset_keys()}
    assert {
        "raw/events",
        "raw/quarantine",
        "raw/ingest_ledger",
        "raw/ingest_ledger_orgs",
        "serving_snapshot",
    } <= keys
    for mart in ("events", "quarantine", "ingest_ledger", "funnel_velocity", "event_volume_daily"):
        assert f"marts/{mart}" in keys
    graph = defs.resolve_asset_graph()
    snapshot = dg.AssetKey("serving_snapshot")
    assert dg.AssetKey(["marts", "funnel_velocity"]) in graph.get(snapshot).parent_keys
    # dbt sources are wired to the ingest asset, so lineage runs raw → staging → marts → snapshot.
    staged = graph.get(dg.AssetKey(["staging", "stg_workstream__events"]))
    assert dg.AssetKey(["raw", "events"]) in staged.parent_keys


def test_jobs_sensors_schedules_and_checks():
    assert defs.resolve_job_def("ingest_build_publish_job") is not None
    assert defs.resolve_sensor_def("inbox_files_sensor").default_status == dg.DefaultSensorStatus.RUNNING
    schedule = defs.resolve_schedule_def("nightly_rebuild_schedule")
    assert schedule.cron_schedule == "0 2 * * *"
    check_names = {key.name for key in defs.resolve_asset_graph().asset_check_keys}
    assert {"ledger_conserves_lines", "event_ids_unique_per_org"} <= check_names
    assert any(
        name.startswith("unique_combination_of_columns") or name.startswith("not_null")
        for name in check_names
    )


def test_the_data_walks_one_way_from_the_apply_through_dbt_and_the_alerts_to_one_publish():
    """The control store's state reaches dbt from the apply; the alert step reads dbt's clocks and
    runs before the publish, which writes the snapshot once (nothing rewrites it after)."""
    graph = defs.resolve_asset_graph()
    snapshot, alerts = dg.AssetKey("serving_snapshot"), dg.AssetKey("sla_alerts")
    for table in ("outbox_health", "dead_letters", "alerts"):
        staged = graph.get(dg.AssetKey(["staging", f"stg_control__{table}"]))
        assert dg.AssetKey(["control", table]) in staged.parent_keys
        assert graph.get(dg.AssetKey(["control", table])).parent_keys == {dg.AssetKey(["raw", "events"])}
    assert dg.AssetKey(["marts", "sla_clocks"]) in graph.get(alerts).parent_keys
    assert alerts in graph.get(snapshot).parent_keys
    # Only the enrichment step reads it after the publish (it writes the inbox, never the snapshot), in a
    # job of its own: no build job waits for an enrichment server.
    enrichment = dg.AssetKey("mcp_enrichment")
    assert graph.get(snapshot).child_keys == {enrichment}
    for name in ("ingest_build_publish_job", "full_build_job", "dbt_tests_job", "sla_alert_job"):
        assert enrichment not in defs.resolve_job_def(name).asset_layer.executable_asset_keys
    assert defs.resolve_job_def("enrichment_job").asset_layer.executable_asset_keys == {enrichment}
    for table in ("outbox_health", "dead_letters", "alerts", "memory_health"):
        assert dg.AssetKey(["marts", table]) in graph.get(snapshot).parent_keys


def test_the_users_mart_reads_the_user_records_the_apply_writes():
    graph = defs.resolve_asset_graph()
    records = dg.AssetKey(["core", "user_records"])
    assert records in graph.get(dg.AssetKey(["staging", "stg_lifecycle__user_records"])).parent_keys
    assert graph.get(records).parent_keys == {dg.AssetKey(["raw", "events"])}
    assert dg.AssetKey(["marts", "users"]) in graph.get(dg.AssetKey("serving_snapshot")).parent_keys
