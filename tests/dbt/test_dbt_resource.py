"""dbt through dagster-dbt's public resource: each home's warehouse reaches dbt as configuration."""

from __future__ import annotations

import os
import shlex
from pathlib import Path

import dagster as dg
import duckdb
import pytest
import yaml
from dagster_dbt import DbtCliResource
from dagster_dbt.errors import DagsterDbtCliRuntimeError
from test_dbt_project import make_warehouse

from dagster_project.defs import resources
from dagster_project.defs.resources import (
    build_dbt_resource,
    dbt_cli_for_home,
    dbt_executable,
    dbt_profiles_dir,
    dbt_project,
    share_partial_parse,
)
from dagster_project.settings import DBT_PROJECT_DIR, HomePaths

# A staging view, a mart built on it and the mart's data tests.
SELECTION = ["--select", "stg_workstream__events events", "--exclude", "resource_type:unit_test"]


def _home(root: Path, *, drop_org: str | None = None) -> HomePaths:
    paths = HomePaths(root).ensure()
    make_warehouse(paths.warehouse)
    if drop_org:
        with duckdb.connect(str(paths.warehouse)) as con:
            con.execute("delete from raw.events where org_id = ?", [drop_org])
    return paths


def _build(paths: HomePaths, base: DbtCliResource | None = None) -> list[tuple[str, str]]:
    invocation = dbt_cli_for_home(
        base or build_dbt_resource(), paths, ["build", *SELECTION], manifest=dbt_project.manifest_path
    )
    return sorted(
        (type(event).__name__, event.asset_key.to_user_string())
        for event in invocation.stream()
        if isinstance(event, dg.AssetMaterialization | dg.AssetCheckEvaluation | dg.AssetObservation)
    )


def _orgs_in_events_mart(warehouse: Path) -> set[str]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return {org for (org,) in con.execute("select distinct org_id from marts.events").fetchall()}


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[HomePaths, list[tuple[str, str]]]:
    """A home built once, with no warehouse in the environment at all, and what its build reported:
    the tests below only read it."""
    with pytest.MonkeyPatch.context() as env:
        env.delenv("WORKSTREAM_WAREHOUSE", raising=False)
        paths = _home(tmp_path_factory.mktemp("both"))
        return paths, _build(paths)


def test_two_homes_built_in_one_process_each_reach_their_own_warehouse(built, tmp_path, monkeypatch):
    """No warehouse in the environment at all: the path comes from each home's own profile."""
    monkeypatch.delenv("WORKSTREAM_WAREHOUSE", raising=False)
    both, built_both = built
    globex_only = _home(tmp_path / "globex-only", drop_org="acme")
    events = {"both": built_both, "globex-only": _build(globex_only)}
    assert ("AssetMaterialization", "marts/events") in events["both"]
    assert events["both"] == events["globex-only"]
    assert _orgs_in_events_mart(both.warehouse) == {"acme", "globex"}
    assert _orgs_in_events_mart(globex_only.warehouse) == {"globex"}
    assert "WORKSTREAM_WAREHOUSE" not in os.environ


def test_a_build_keeps_its_partial_parse_and_writes_no_json_artifacts(built):
    """Nothing reads a command's manifest.json or run_results.json; the partial parse is what the next
    run of the home reuses."""
    paths, events = built
    assert ("AssetMaterialization", "marts/events") in events
    written = {p.name for p in paths.dbt_target.iterdir()}
    assert "partial_parse.msgpack" in written
    assert not written & {"manifest.json", "run_results.json"}


def test_a_builds_file_log_is_dbts_plain_text_not_json(built):
    """dbt formats every event for its file log, debug ones included, before the level drops them:
    JSON is the dear format, and Dagster reads dbt's JSON from its output, not from this file."""
    paths, _ = built
    lines = [line for line in (paths.dbt_target / "dbt.log").read_text().splitlines() if line.strip()]
    assert any("Finished running" in line for line in lines)
    assert not [line for line in lines if line.lstrip().startswith("{")]


def test_a_failed_build_raises_with_dbts_error(tmp_path):
    """No raw tables: the staging view cannot be created, and the error says which model and why."""
    paths = HomePaths(tmp_path).ensure()
    with pytest.raises(DagsterDbtCliRuntimeError) as failure:
        _build(paths)
    assert "stg_workstream__events" in str(failure.value)


def test_a_homes_profile_is_the_projects_profile_naming_its_warehouse_from_the_profiles_folder(tmp_path):
    paths = HomePaths(tmp_path / "home with 'quotes' and spaces").ensure()
    folder = dbt_profiles_dir(paths)
    written = yaml.safe_load((folder / "profiles.yml").read_text())
    shipped = yaml.safe_load((DBT_PROJECT_DIR / "profiles.yml").read_text())
    for name, profile in written.items():
        for target, output in profile["outputs"].items():
            assert (folder / output.pop("path")).resolve() == paths.warehouse
            del shipped[name]["outputs"][target]["path"]
    assert written == shipped


def test_every_homes_profile_is_the_same_text_so_dbts_partial_parse_carries_over(tmp_path):
    """dbt keys its partial parse on a hash of the profile's connection settings."""
    texts = {
        (dbt_profiles_dir(HomePaths(tmp_path / name).ensure()) / "profiles.yml").read_text()
        for name in ("first", "second", "a/deeper one")
    }
    assert len(texts) == 1


def test_a_new_home_starts_from_the_partial_parse_an_earlier_home_left(tmp_path, monkeypatch):
    """The first home parses the project in full; the next one reuses that parse (dbt logs no
    `UnableToPartialParse`), and still builds its own warehouse."""
    monkeypatch.setattr(resources, "SHARED_PARSE", tmp_path / "shared" / "partial_parse.msgpack")
    first, second = _home(tmp_path / "first"), _home(tmp_path / "second", drop_org="acme")

    def full_parse(paths: HomePaths) -> bool:
        return "Unable to do partial parsing" in (paths.dbt_target / "dbt.log").read_text()

    assert ("AssetMaterialization", "marts/events") in _build(first)
    share_partial_parse(first)
    assert ("AssetMaterialization", "marts/events") in _build(second)
    assert full_parse(first) and not full_parse(second)
    assert _orgs_in_events_mart(second.warehouse) == {"globex"}


def test_a_seed_that_cannot_be_copied_leaves_the_home_to_a_full_parse_not_an_error(tmp_path, monkeypatch):
    """A folder where the shared parse should be: the copy fails, and the home's target stays clean."""
    shared = tmp_path / "shared" / "partial_parse.msgpack"
    shared.mkdir(parents=True)
    monkeypatch.setattr(resources, "SHARED_PARSE", shared)
    paths = HomePaths(tmp_path / "home").ensure()
    resources.seed_partial_parse(paths)
    assert not paths.dbt_target.exists() or list(paths.dbt_target.iterdir()) == []


def test_an_unchanged_profile_is_not_rewritten(tmp_path):
    """dbt's partial parse hashes the profile: the same home keeps the same file between runs."""
    paths = HomePaths(tmp_path).ensure()
    profile = dbt_profiles_dir(paths) / "profiles.yml"
    os.utime(profile, (1_700_000_000, 1_700_000_000))
    dbt_profiles_dir(paths)
    assert profile.stat().st_mtime == 1_700_000_000
    assert [p.name for p in profile.parent.iterdir()] == ["profiles.yml"]


def test_dbt_is_asked_its_version_once_per_process_not_once_per_home(tmp_path):
    """dagster-dbt runs `dbt --version` once per resource object: a process building many homes (the
    daemon, a test session) pays it once. A dbt that logs its arguments counts the calls."""
    calls = tmp_path / "calls.log"
    logging_dbt = tmp_path / "dbt"
    logging_dbt.write_text(
        f'#!/bin/sh\necho "$*" >> {shlex.quote(str(calls))}\nexec {shlex.quote(dbt_executable())} "$@"\n'
    )
    logging_dbt.chmod(0o755)
    base = DbtCliResource(
        project_dir=dbt_project,
        dbt_executable=str(logging_dbt),
        global_config_flags=build_dbt_resource().global_config_flags,
    )
    homes = [_home(tmp_path / name) for name in ("first", "second")]
    assert _build(homes[0], base) == _build(homes[1], base)
    commands = calls.read_text().splitlines()
    assert [c for c in commands if c.strip() == "--version"] == ["--version"]
    builds = [c for c in commands if " build " in f" {c} "]
    assert len(builds) == 2 and all(str(dbt_profiles_dir(h)) in b for h, b in zip(homes, builds, strict=True))
