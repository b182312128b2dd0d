"""dbt through dagster-dbt's public resource: each home's warehouse reaches dbt as configuration."""

from __future__ import annotations

import os
import shlex
from pathlib import Path
from typing import Any

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


def _logging_dbt(folder: Path) -> tuple[DbtCliResource, Path]:
    """The project's resource, its dbt wrapped in a script that logs every call's arguments."""
    calls = folder / "calls.log"
    logging_dbt = folder / "dbt"
    logging_dbt.write_text(
        f'#!/bin/sh\necho "$*" >> {shlex.quote(str(calls))}\nexec {shlex.quote(dbt_executable())} "$@"\n'
    )
    logging_dbt.chmod(0o755)
    base = DbtCliResource(
        project_dir=dbt_project,
        dbt_executable=str(logging_dbt),
        global_config_flags=build_dbt_resource().global_config_flags,
    )
    return base, calls


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict[str, Any]:
    """Two homes built in one process, with no warehouse in the environment at all, by one resource
    whose dbt logs its calls: `both` (both orgs) first, from no partial parse; then `globex-only` (acme
    dropped), a new home that starts from the partial parse `both` shared. The tests below only read
    the homes, what each build reported, dbt's calls and the environment after the builds."""
    root = tmp_path_factory.mktemp("built")
    with pytest.MonkeyPatch.context() as env:
        env.delenv("WORKSTREAM_WAREHOUSE", raising=False)
        env.setattr(resources, "SHARED_PARSE", root / "shared" / "partial_parse.msgpack")
        base, calls = _logging_dbt(root)
        both, globex_only = _home(root / "both"), _home(root / "globex-only", drop_org="acme")
        events = {"both": _build(both, base)}
        share_partial_parse(both)
        events["globex-only"] = _build(globex_only, base)
        leaked = "WORKSTREAM_WAREHOUSE" in os.environ
    return {
        "homes": {"both": both, "globex-only": globex_only},
        "events": events,
        "calls": calls.read_text().splitlines(),
        "leaked": leaked,
    }


def test_two_homes_built_in_one_process_each_reach_their_own_warehouse(built):
    """No warehouse in the environment at all: the path comes from each home's own profile."""
    events, homes = built["events"], built["homes"]
    assert ("AssetMaterialization", "marts/events") in events["both"]
    assert events["both"] == events["globex-only"]
    assert _orgs_in_events_mart(homes["both"].warehouse) == {"acme", "globex"}
    assert _orgs_in_events_mart(homes["globex-only"].warehouse) == {"globex"}
    assert not built["leaked"]


def test_a_build_keeps_its_partial_parse_and_writes_no_json_artifacts(built):
    """Nothing reads a command's manifest.json or run_results.json; the partial parse is what the next
    run of the home reuses."""
    paths, events = built["homes"]["both"], built["events"]["both"]
    assert ("AssetMaterialization", "marts/events") in events
    written = {p.name for p in paths.dbt_target.iterdir()}
    assert "partial_parse.msgpack" in written
    assert not written & {"manifest.json", "run_results.json"}


def test_a_builds_file_log_is_dbts_plain_text_not_json(built):
    """dbt formats every event for its file log, debug ones included, before the level drops them:
    JSON is the dear format, and Dagster reads dbt's JSON from its output, not from this file."""
    paths = built["homes"]["both"]
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


def test_a_new_home_starts_from_the_partial_parse_an_earlier_home_left(built):
    """The first home parses the project in full; the next one reuses that parse (dbt logs no
    `UnableToPartialParse`), and still builds its own warehouse."""
    first, second = built["homes"]["both"], built["homes"]["globex-only"]

    def full_parse(paths: HomePaths) -> bool:
        return "Unable to do partial parsing" in (paths.dbt_target / "dbt.log").read_text()

    assert ("AssetMaterialization", "marts/events") in built["events"]["both"]
    assert ("AssetMaterialization", "marts/events") in built["events"]["globex-only"]
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


def test_dbt_is_asked_its_version_once_per_process_not_once_per_home(built):
    """dagster-dbt runs `dbt --version` once per resource object: a process building many homes (the
    daemon, a test session) pays it once. A dbt that logs its arguments counts the calls."""
    homes = [built["homes"]["both"], built["homes"]["globex-only"]]
    assert built["events"]["both"] == built["events"]["globex-only"]
    commands = built["calls"]
    assert [c for c in commands if c.strip() == "--version"] == ["--version"]
    builds = [c for c in commands if " build " in f" {c} "]
    assert len(builds) == 2 and all(str(dbt_profiles_dir(h)) in b for h, b in zip(homes, builds, strict=True))
