"""dbt models as Dagster assets: one `dbt build` per run, computed as of the run's as-of time."""

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, dbt_assets

from dagster_project.defs.resources import (
    RunClockResource,
    WorkstreamResource,
    dbt_cli_for_home,
    dbt_project,
    share_partial_parse,
)
from dagster_project.warehouse.store import writer_lock

# The default translator is enough: groups come from `meta.dagster.group` per dbt folder, and the
# sources carry `meta.dagster.asset_key` pointing at the raw ingest assets.


class DbtBuildConfig(dg.Config):
    """How the build treats the incremental models (dbt/macros/incremental.sql)."""

    # Rebuild the incremental models from the core tables instead of only the clusters the apply wrote
    # since their last build: after a change to one of those models or to the contract.
    full_refresh: bool = False


def dbt_build_args(*, full_refresh: bool = False) -> list[str]:
    """The dbt command for a run. No `--vars`: the as-of time is in `core.run_clock`, written by the
    apply (see dbt/macros/as_of.sql), so the command, and dbt's parse of the project, are the same every run.

    Unit tests check the SQL, not the data: they run in `make test`, never in a pipeline run. Which
    models and data tests run is Dagster's selection (dagster-dbt turns it into `--select`).
    `full_refresh` rebuilds the incremental models whole; both paths give the same rows.
    """
    args = ["build", "--exclude", "resource_type:unit_test"]
    return [*args, "--full-refresh"] if full_refresh else args


@dbt_assets(
    manifest=dbt_project.manifest_path, project=dbt_project, dagster_dbt_translator=DagsterDbtTranslator()
)
def workstream_dbt_assets(
    context: dg.AssetExecutionContext,
    dbt: DbtCliResource,
    workstream: WorkstreamResource,
    clock: RunClockResource,
    config: DbtBuildConfig,
):
    """Staging, intermediate and marts from the raw event log; dbt tests run as asset checks."""
    paths = workstream.paths
    with writer_lock(paths.writer_lock):
        # The warehouse reaches dbt through this home's profile (configuration, not the environment).
        try:
            yield from dbt_cli_for_home(
                dbt, paths, dbt_build_args(full_refresh=config.full_refresh), context=context
            ).stream()
        finally:
            # Even a failed build parsed the project: the next new home starts from that parse.
            share_partial_parse(paths)
