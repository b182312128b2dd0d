"""dbt run in-process (dagster_project/defs/dbt_in_process.py) against dagster-dbt's own dbt process."""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from dagster_dbt.errors import DagsterDbtCliRuntimeError
from test_dbt_project import make_warehouse

from dagster_project.defs import dbt_in_process
from dagster_project.defs.resources import build_dbt_resource, dbt_project

# A staging view, a mart built on it and the mart's data tests.
SELECTION = ["--select", "stg_workstream__events events", "--exclude", "resource_type:unit_test"]


def _build(warehouse: Path, target: Path, *, in_process: bool) -> list[tuple[str, str]]:
    os.environ["WORKSTREAM_WAREHOUSE"] = str(warehouse)
    events = build_dbt_resource().cli(
        ["build", *SELECTION], manifest=dbt_project.manifest_path, target_path=target, in_process=in_process
    )
    return sorted(
        (type(event).__name__, event.asset_key.to_user_string())
        for event in events.stream()
        if isinstance(event, dg.AssetMaterialization | dg.AssetCheckEvaluation | dg.AssetObservation)
    )


def test_in_process_build_gives_the_events_and_tables_of_a_dbt_process(tmp_path: Path) -> None:
    results = {}
    for in_process in (True, False):
        warehouse = make_warehouse(tmp_path / f"warehouse-{in_process}.duckdb")
        results[in_process] = _build(warehouse, tmp_path / f"target-{in_process}", in_process=in_process)
    kinds = {kind for kind, _ in results[True]}
    assert {"AssetMaterialization"} < kinds, results[True]  # materializations and test results
    assert ("AssetMaterialization", "marts/events") in results[True]
    assert results[True] == results[False]


def test_in_process_prints_what_a_dbt_process_prints_not_its_debug_events(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    printed = {}
    for in_process in (True, False):
        warehouse = make_warehouse(tmp_path / f"warehouse-{in_process}.duckdb")
        capsys.readouterr()
        _build(warehouse, tmp_path / f"target-{in_process}", in_process=in_process)
        printed[in_process] = capsys.readouterr().out
    for out in printed.values():
        assert "START sql view model" in out and "Using duckdb connection" not in out
    # Same lines but for timings: a debug event per SQL statement would make it hundreds more.
    assert abs(len(printed[True].splitlines()) - len(printed[False].splitlines())) <= 3


def test_in_process_manifest_is_parsed_once_and_kept(tmp_path: Path) -> None:
    warehouse = make_warehouse(tmp_path / "warehouse.duckdb")
    dbt_in_process._MANIFESTS.clear()
    _build(warehouse, tmp_path / "target", in_process=True)
    assert len(dbt_in_process._MANIFESTS) == 1  # parsed for the first build, and kept
    (first,) = dbt_in_process._MANIFESTS.values()
    _build(warehouse, tmp_path / "target", in_process=True)
    (second,) = dbt_in_process._MANIFESTS.values()
    assert second is first  # the second build found it: no second parse, no second key


def test_in_process_failure_raises_with_dbt_error(tmp_path: Path) -> None:
    """No raw tables: the staging view cannot be created, and the error says which model and why."""
    empty = tmp_path / "empty.duckdb"
    with pytest.raises(DagsterDbtCliRuntimeError) as failure:
        _build(empty, tmp_path / "target", in_process=True)
    assert "stg_workstream__events" in str(failure.value)
    # dbt's database handle is closed: a connection with other settings can open the file (DuckDB
    # refuses a second configuration for a file this process still holds open).
    duckdb.connect(str(empty), config={"memory_limit": "123MB"}).close()


def test_project_fingerprint_changes_with_any_project_file(tmp_path: Path) -> None:
    (tmp_path / "models").mkdir()
    (tmp_path / "target").mkdir()
    model = tmp_path / "models" / "a.sql"
    model.write_text("select 1")
    (tmp_path / "target" / "manifest.json").write_text("{}")
    before = dbt_in_process.project_fingerprint(tmp_path)
    (tmp_path / "target" / "run_results.json").write_text("{}")  # dbt's own output: not the project
    assert dbt_in_process.project_fingerprint(tmp_path) == before
    model.write_text("select 2 as changed")
    assert dbt_in_process.project_fingerprint(tmp_path) != before
    (tmp_path / "models" / "b.yml").write_text("version: 2")
    assert len(dbt_in_process.project_fingerprint(tmp_path)) == 2
