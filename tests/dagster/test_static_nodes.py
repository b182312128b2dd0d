"""A drop's build leaves out the views and seeds an earlier whole build of the same project made
(dagster_project/warehouse/static_nodes.py). That the marts read the same either way is checked by
tests/integration/test_incremental_marts.py, whose drops leave them out and whose full refresh does not."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path

import pytest

from dagster_project.defs.resources import dbt_project
from dagster_project.defs.transform import dbt_build_args, dbt_build_parts, workstream_dbt_assets
from dagster_project.settings import HomePaths
from dagster_project.warehouse import static_nodes
from dagster_project.warehouse.store import connect

MANIFEST = dbt_project.manifest_path


def _manifest() -> dict:
    return json.loads(MANIFEST.read_bytes())


def _digest(manifest: dict) -> str:
    built = {
        uid: node
        for uid, node in manifest["nodes"].items()
        if node["resource_type"] in ("model", "seed", "snapshot")
    }
    return static_nodes.project_digest(manifest, built)


def _first(manifest: dict, *, kind: str) -> dict:
    for node in manifest["nodes"].values():
        if kind == "seed" and node["resource_type"] == "seed":
            return node
        if node["resource_type"] == "model" and node["config"].get("materialized") == kind:
            return node
    raise AssertionError(kind)


def test_the_build_leaves_views_and_seeds_out_only_when_they_are_current_and_never_on_a_full_refresh():
    assert dbt_build_args() == ["build", "--exclude", "resource_type:unit_test"]
    assert dbt_build_args(static_current=True) == [
        "build",
        "--exclude",
        "resource_type:unit_test resource_type:seed "
        "config.materialized:view,config.schema:intermediate config.materialized:view,config.schema:staging",
    ]
    assert dbt_build_args(full_refresh=True, static_current=True) == [
        "build",
        "--exclude",
        "resource_type:unit_test",
        "--full-refresh",
    ]


def test_the_digest_changes_with_a_view_a_seed_a_macro_or_a_table_and_not_with_parse_details():
    manifest = _manifest()
    digest = _digest(manifest)

    def changed(edit) -> str:
        other = copy.deepcopy(manifest)
        edit(other)
        return _digest(other)

    # What one parse of the same files differs in: parse times and the database named by the profile.
    def parse_details(m: dict) -> None:
        for node in m["nodes"].values():
            node["created_at"] = 0.0
            node["relation_name"] = '"elsewhere"."x"."y"'
        m["metadata"]["generated_at"] = "2030-01-01T00:00:00Z"

    assert changed(parse_details) == digest
    view, seed, table = (_first(manifest, kind=kind) for kind in ("view", "seed", "table"))
    for node in (view, seed, table):
        uid = node["unique_id"]
        assert changed(lambda m, uid=uid: m["nodes"][uid]["checksum"].update(checksum="0" * 64)) != digest
    view_uid = view["unique_id"]
    assert changed(lambda m: m["nodes"][view_uid]["config"].update(materialized="table")) != digest
    macro = next(iter(manifest["macros"]))
    assert changed(lambda m: m["macros"][macro].update(macro_sql="{% macro x() %}1{% endmacro %}")) != digest
    assert changed(lambda m: m["metadata"].update(dbt_version="0.0.1")) != digest


def _static_keys() -> set:
    ids = set(static_nodes.static_unique_ids(MANIFEST))
    return {
        key
        for key, spec in workstream_dbt_assets.specs_by_key.items()
        if spec.metadata["dagster_dbt/unique_id"] in ids
    }


def test_the_static_nodes_are_the_seeds_and_the_views_outside_the_published_marts():
    kinds = {
        key: (spec.metadata.get("dagster-dbt/materialization_type"), key.path[0])
        for key, spec in workstream_dbt_assets.specs_by_key.items()
    }
    expected = {
        key
        for key, (kind, schema) in kinds.items()
        if kind == "seed" or (kind == "view" and schema != "marts")
    }
    assert expected and _static_keys() == expected
    assert len(static_nodes.static_relations(MANIFEST)) == len(expected)


def test_no_asset_outside_dbt_depends_on_a_node_a_build_may_leave_out():
    """Dagster skips a step when an asset it depends on was not materialized earlier in the same run:
    publish, reading a static node, would be skipped on every drop."""
    from dagster_project.definitions import defs

    graph, static = defs.resolve_asset_graph(), _static_keys()
    readers = {
        key.to_user_string(): sorted(
            parent.to_user_string() for parent in set(graph.get(key).parent_keys) & static
        )
        for key in graph.get_all_asset_keys()
        if key not in workstream_dbt_assets.keys
    }
    assert {key: parents for key, parents in readers.items() if parents} == {}


def _warehouse_with(paths: HomePaths, relations: list[tuple[str, str]]) -> None:
    con = connect(paths.warehouse)
    try:
        for schema, name in relations:
            con.execute(f'create schema if not exists "{schema}"')
            con.execute(f'create view "{schema}"."{name}" as select 1 as one')
    finally:
        con.close()


def _drop_view(warehouse: Path, relation: tuple[str, str]) -> None:
    schema, name = relation
    con = connect(warehouse)
    try:
        con.execute(f'drop view "{schema}"."{name}"')
    finally:
        con.close()


@pytest.fixture
def paths(tmp_path: Path) -> HomePaths:
    return HomePaths(tmp_path / "home").ensure()


def test_static_nodes_count_as_current_only_after_a_whole_build_of_this_project_into_this_warehouse(
    paths: HomePaths,
):
    relations = static_nodes.static_relations(MANIFEST)
    total = len(workstream_dbt_assets.keys)
    # A new home: no warehouse, no record.
    assert not static_nodes.static_nodes_current(paths, MANIFEST)
    assert dbt_build_parts(paths) == total

    _warehouse_with(paths, relations)
    assert not static_nodes.static_nodes_current(paths, MANIFEST), "no whole build recorded yet"

    static_nodes.record_static_nodes(paths, MANIFEST)
    assert static_nodes.static_nodes_current(paths, MANIFEST)
    assert dbt_build_parts(paths) == total - len(relations)
    assert dbt_build_parts(paths, full_refresh=True) == total

    # Another project (a deploy changed a file): the record no longer holds.
    (paths.dbt_target / static_nodes.MARKER).write_text("0" * 64 + "\n")
    assert not static_nodes.static_nodes_current(paths, MANIFEST)
    static_nodes.record_static_nodes(paths, MANIFEST)

    # A warehouse without one of the relations (replaced, restored): a whole build again.
    _drop_view(paths.warehouse, relations[0])
    assert not static_nodes.static_nodes_current(paths, MANIFEST)
    paths.warehouse.unlink()
    assert not static_nodes.static_nodes_current(paths, MANIFEST)


def test_a_whole_copy_of_a_warehouse_takes_the_record_of_its_views_and_seeds_along(
    paths: HomePaths, tmp_path: Path
):
    relations = static_nodes.static_relations(MANIFEST)
    _warehouse_with(paths, relations)
    copied = HomePaths(tmp_path / "copy").ensure()
    shutil.copyfile(paths.warehouse, copied.warehouse)
    static_nodes.copy_record(paths, copied)  # nothing recorded yet: nothing to take along
    assert not static_nodes.static_nodes_current(copied, MANIFEST)

    static_nodes.record_static_nodes(paths, MANIFEST)
    static_nodes.copy_record(paths, copied)
    assert static_nodes.static_nodes_current(copied, MANIFEST)
    # Still checked as any home's record is: a copy that lacks a relation builds them all again.
    _drop_view(copied.warehouse, relations[0])
    assert not static_nodes.static_nodes_current(copied, MANIFEST)


@pytest.mark.integration
def test_a_view_picked_alone_in_the_ui_is_built_and_only_a_whole_build_records_the_views(
    tmp_path, tmp_path_factory
):
    """Only a build of every dbt asset leaves the current views and seeds out, and only such a build
    records them as current: one picked by hand (a staging view materialized from `dagster dev`) is
    built, not reported green with nothing done, and says nothing of the views it did not build."""
    import dagster as dg

    from dagster_project.definitions import defs
    from tests.shared_homes import SAMPLE_NOW, copy_home, sample_home

    home = copy_home(sample_home(tmp_path_factory), tmp_path / "home")
    paths = HomePaths(home)
    view = min((key for key in _static_keys() if _kind(key) == "view"), key=lambda key: key.to_user_string())
    run_config = {
        "resources": {
            "workstream": {"config": {"home": str(home), "inbox": str(tmp_path / "inbox")}},
            "clock": {"config": {"as_of": "", "now": SAMPLE_NOW}},
        }
    }
    log = paths.dbt_target / "dbt.log"

    def build_the_view_alone() -> None:
        earlier = len(log.read_text())  # the copied home's log holds its whole build
        with dg.DagsterInstance.ephemeral() as instance:
            result = defs.resolve_implicit_global_asset_job_def().execute_in_process(
                run_config=run_config, instance=instance, asset_selection=[view]
            )
        assert [event.asset_key for event in result.get_asset_materialization_events()] == [view]
        built = [line for line in log.read_text()[earlier:].splitlines() if "OK created" in line]
        assert len(built) == 1 and f".{view.path[-1]} " in built[0], built

    assert static_nodes.static_nodes_current(paths, MANIFEST), "the shared home's whole build recorded them"
    build_the_view_alone()
    # Another project's record (a deploy changed a file): a build of one view does not renew it.
    (paths.dbt_target / static_nodes.MARKER).write_text("0" * 64 + "\n")
    build_the_view_alone()
    assert not static_nodes.static_nodes_current(paths, MANIFEST)


def _kind(key) -> str | None:
    return workstream_dbt_assets.specs_by_key[key].metadata.get("dagster-dbt/materialization_type")
