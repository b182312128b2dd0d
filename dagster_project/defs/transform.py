"""dbt models as Dagster assets: one `dbt build` per run, computed as of the run's as-of time."""

import os

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, dbt_assets

from dagster_project.defs.resources import (
    RunClockResource,
    WorkstreamDbtCliResource,
    WorkstreamResource,
    dbt_project,
)
from dagster_project.warehouse.store import writer_lock

# The default translator is enough: groups come from `meta.dagster.group` per dbt folder, and the
# sources carry `meta.dagster.asset_key` pointing at the raw ingest assets.


def dbt_build_args() -> list[str]:
    """The dbt command for a run. No `--vars`: the as-of time is in `core.run_clock`, written by the
    apply (see dbt/macros/as_of.sql), so the command, and dbt's parse of the project, are the same every run.

    Unit tests check the SQL, not the data: they run in `make test`, never in a pipeline run. Which
    models and data tests run is Dagster's selection (dagster-dbt turns it into `--select`).
    """
    return ["build", "--exclude", "resource_type:unit_test"]


@dbt_assets(
    manifest=dbt_project.manifest_path, project=dbt_project, dagster_dbt_translator=DagsterDbtTranslator()
)
def workstream_dbt_assets(
    context: dg.AssetExecutionContext,
    dbt: WorkstreamDbtCliResource,
    workstream: WorkstreamResource,
    clock: RunClockResource,
):
    """Staging, intermediate and marts from the raw event log; dbt tests run as asset checks."""
    paths = workstream.paths
    # The profile reads the warehouse path from the environment of the dbt subprocess.
    os.environ["WORKSTREAM_WAREHOUSE"] = str(paths.warehouse)
    with writer_lock(paths.writer_lock):
        yield from dbt.cli(
            dbt_build_args(),
            context=context,
            target_path=paths.dbt_target,
            # Model builds run dbt in this process (no start-up cost, see dbt_in_process.py). Runs
            # with data tests (the tests job, the nightly build) are off the freshness path, and their
            # 310 checks run better in a dbt process of their own, beside the step recording them.
            in_process=None
            if context.selected_asset_keys and not context.selected_asset_check_keys
            else False,
        ).stream()
