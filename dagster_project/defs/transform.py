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
from dagster_project.settings import HomePaths
from dagster_project.warehouse.static_nodes import (
    record_static_nodes,
    static_nodes_current,
    static_relations,
    static_selectors,
)
from dagster_project.warehouse.store import writer_lock

# The default translator is enough: groups come from `meta.dagster.group` per dbt folder, and the
# sources carry `meta.dagster.asset_key` pointing at the raw ingest assets.


class DbtBuildConfig(dg.Config):
    """How the build treats the incremental models (dbt/macros/incremental.sql)."""

    # Rebuild the incremental models from the core tables instead of only the clusters the apply wrote
    # since their last build: after a change to one of those models or to the contract.
    full_refresh: bool = False


def dbt_build_args(*, full_refresh: bool = False, static_current: bool = False) -> list[str]:
    """The dbt command for a run. No `--vars`: the as-of time is in `core.run_clock`, written by the
    apply (see dbt/macros/as_of.sql), so the command, and dbt's parse of the project, are the same every run.

    Unit tests check the SQL, not the data: they run in `make test`, never in a pipeline run. Which
    models and data tests run is Dagster's selection (dagster-dbt turns it into `--select`).
    `full_refresh` rebuilds the incremental models whole; both paths give the same rows.
    `static_current`: the views and seeds of this project are already in the warehouse
    (dagster_project/warehouse/static_nodes.py), so this build leaves them out.
    """
    excluded = ["resource_type:unit_test"]
    if static_current and not full_refresh:
        excluded += static_selectors(dbt_project.manifest_path)
    # One value: dagster-dbt merges this flag with its own selection, and dbt reads a space as a union.
    args = ["build", "--exclude", " ".join(excluded)]
    return [*args, "--full-refresh"] if full_refresh else args


def static_nodes_built_already(paths: HomePaths, *, full_refresh: bool = False) -> bool:
    """Whether this home's next build leaves the views and seeds out (see `dbt_build_args`)."""
    return not full_refresh and static_nodes_current(paths, dbt_project.manifest_path)


def dbt_build_parts(paths: HomePaths, *, full_refresh: bool = False) -> int:
    """How many dbt assets this home's next build materializes, for its progress bar."""
    total = len(workstream_dbt_assets.keys)
    if static_nodes_built_already(paths, full_refresh=full_refresh):
        total -= len(static_relations(dbt_project.manifest_path))
    return total


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
        # A build of every asset makes every view and seed: the next builds of this project need not.
        # (`context.assets_def` is the run's subset of this definition, so the whole is compared with the
        # definition itself.)
        whole = context.selected_asset_keys == workstream_dbt_assets.keys
        # Only such a build leaves the current views and seeds out: assets picked by hand (in
        # `dagster dev`) are built as picked, not shown green with nothing done.
        static_current = whole and static_nodes_built_already(paths, full_refresh=config.full_refresh)
        # The warehouse reaches dbt through this home's profile (configuration, not the environment).
        try:
            yield from dbt_cli_for_home(
                dbt,
                paths,
                dbt_build_args(full_refresh=config.full_refresh, static_current=static_current),
                context=context,
            ).stream()
        finally:
            # Even a failed build parsed the project: the next new home starts from that parse.
            share_partial_parse(paths)
        if whole and not static_current:
            record_static_nodes(paths, dbt_project.manifest_path)
