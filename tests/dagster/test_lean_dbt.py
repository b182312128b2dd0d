"""The lean dbt resource: a home's dbt command starts without dagster-dbt's unused preflight (an
in-process dbt adapter, a `dbt --version` process), can be switched back, and rests on private
dagster-dbt symbols that are each checked here."""

from __future__ import annotations

import importlib.metadata
import inspect
from functools import cached_property

import pytest
from dagster_dbt import DbtCliInvocation, DbtCliResource
from packaging.version import Version

from dagster_project.defs import resources
from dagster_project.defs.warm_launcher import (
    LeanDbtCliResource,
    dbt_resource_class,
    lean_dbt_supported,
)
from dagster_project.settings import HomePaths


@pytest.fixture
def preflight(monkeypatch):
    """What dagster-dbt's `cli()` did before starting dbt: no dbt is started (its `run` is replaced)."""
    seen: list[str] = []
    monkeypatch.setattr(resources, "_DBT_PER_CONFIG", {})
    monkeypatch.setattr(
        DbtCliResource, "_initialize_dbt_core_adapter", lambda self, args: seen.append("adapter")
    )
    monkeypatch.setattr(
        "dagster_dbt.core.resource.check_output", lambda *a, **k: seen.append("dbt --version") or b"1.11.0"
    )
    started: dict = {}
    monkeypatch.setattr(DbtCliInvocation, "run", lambda **kwargs: started.update(kwargs) or "started")
    return seen, started


def test_a_homes_dbt_command_builds_no_adapter_and_runs_no_version_process(tmp_path, preflight):
    seen, started = preflight
    paths = HomePaths(tmp_path / "home").ensure()
    assert resources.dbt_cli_for_home(resources.build_dbt_resource(), paths, ["parse"]) == "started"
    assert seen == []
    assert started["adapter"] is None
    assert started["cli_version"] == Version(importlib.metadata.version("dbt-core"))


def test_the_stock_resource_comes_back_when_switched_off(tmp_path, preflight, monkeypatch):
    seen, started = preflight
    monkeypatch.setenv("WORKSTREAM_DBT_RESOURCE", "stock")
    assert dbt_resource_class() is DbtCliResource
    resources.dbt_cli_for_home(resources.build_dbt_resource(), HomePaths(tmp_path).ensure(), ["parse"])
    assert seen == ["dbt --version", "adapter"]


def test_an_unknown_dbt_resource_choice_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("WORKSTREAM_DBT_RESOURCE", "fast")
    with pytest.raises(ValueError, match="WORKSTREAM_DBT_RESOURCE='fast': use one of lean, stock"):
        dbt_resource_class()


def test_a_dagster_dbt_outside_the_tested_range_gets_its_own_resource(monkeypatch):
    assert lean_dbt_supported("0.29.27")
    assert not lean_dbt_supported("0.30.0")
    monkeypatch.setattr("dagster_project.defs.warm_launcher.lean_dbt_supported", lambda: False)
    assert dbt_resource_class() is DbtCliResource


def test_a_dbt_not_beside_this_interpreter_is_asked_its_version(tmp_path, preflight):
    seen, _ = preflight
    elsewhere = tmp_path / "dbt"
    elsewhere.write_text("#!/bin/sh\n")
    elsewhere.chmod(0o755)
    resource = LeanDbtCliResource(project_dir=str(resources.DBT_PROJECT_DIR), dbt_executable=str(elsewhere))
    assert resource._cli_version == Version("1.11.0")
    assert seen == ["dbt --version"]


# --------------------------------------------------------------------------- the private symbols, one test each
# `LeanDbtCliResource` overrides these; each test fails when an upgrade of dagster-dbt moves one.


def test_private_cli_version_is_a_cached_version_that_cli_passes_on():
    attribute = inspect.getattr_static(DbtCliResource, "_cli_version")
    assert isinstance(attribute, cached_property)
    assert "self._cli_version" in inspect.getsource(DbtCliResource.cli)
    assert "cli_version" in inspect.signature(DbtCliInvocation.run).parameters


def test_private_initialize_dbt_core_adapter_takes_the_args_and_may_give_no_adapter():
    assert list(inspect.signature(DbtCliResource._initialize_dbt_core_adapter).parameters) == ["self", "args"]
    assert "self._initialize_dbt_core_adapter(args)" in inspect.getsource(DbtCliResource.cli)
    adapter = inspect.signature(DbtCliInvocation.run).parameters["adapter"]
    assert "None" in str(adapter.annotation)
