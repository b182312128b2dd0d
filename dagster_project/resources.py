"""Dagster resources: where the home and inbox are, the run's clock, and dbt."""

from __future__ import annotations

import importlib.metadata
import os
import sys
from datetime import datetime
from functools import cached_property
from pathlib import Path

import dagster as dg
from dagster_dbt import DbtCliResource, DbtProject
from packaging import version
from pydantic import PrivateAttr

from dagster_project.settings import (
    DBT_PROJECT_DIR,
    HomePaths,
    default_clock,
    home_from_env,
    inbox_from_env,
    parse_timestamp,
)

dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)
# Under `dagster dev` this runs `dbt parse` so the manifest exists; elsewhere `make install` made it.
dbt_project.prepare_if_dev()


def dbt_executable() -> str:
    """The venv's dbt, so runs work without an activated venv (dagster-dbt otherwise needs it on PATH)."""
    candidate = Path(sys.executable).parent / "dbt"
    return str(candidate) if candidate.exists() else "dbt"


class WorkstreamResource(dg.ConfigurableResource):
    """The home folder (warehouse, control store, snapshot) and the inbox; empty = from the environment."""

    home: str = ""
    inbox: str = ""

    @property
    def paths(self) -> HomePaths:
        return HomePaths(Path(self.home).resolve() if self.home else home_from_env()).ensure()

    @property
    def inbox_path(self) -> Path:
        return Path(self.inbox).resolve() if self.inbox else inbox_from_env()


class RunClockResource(dg.ConfigurableResource):
    """One clock for a whole run: `now` (ingest clock) and `as_of` (what outputs are computed as of).

    Empty values mean the process clock (WORKSTREAM_NOW or the system clock), read once per run so
    every asset in the run agrees.
    """

    now: str = ""
    as_of: str = ""
    _now: datetime | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        self._now = parse_timestamp(self.now) if self.now else default_clock().now()

    def current(self) -> datetime:
        assert self._now is not None
        return self._now

    def as_of_time(self) -> datetime:
        return parse_timestamp(self.as_of) if self.as_of else self.current()


class WorkstreamDbtCliResource(DbtCliResource):
    """dagster-dbt's resource without two fixed costs we never use (≈ 10 s of every run, measured):

    * `_cli_version` ran `dbt --version` in a subprocess (≈ 4 s of imports) per run process; the
      venv's dbt-core is the one installed beside us, so its package version is the answer.
    * `_initialize_dbt_core_adapter` loaded the dbt project and profile in-process (≈ 5 s) to hold a
      read-only adapter, only needed for `fetch_column_metadata` / `fetch_row_counts`, which we do not
      call (and a read-only DuckDB handle on the warehouse is what we avoid anyway).
    Both are private hooks of the pinned dagster-dbt 0.29.x; `tests/dagster` pins the behaviour.
    """

    @cached_property
    def _cli_version(self) -> version.Version:
        return version.parse(importlib.metadata.version("dbt-core"))

    def _initialize_dbt_core_adapter(self, args):  # noqa: ANN001, ANN202 (dagster-dbt's signature)
        return None


def build_dbt_resource() -> DbtCliResource:
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    return WorkstreamDbtCliResource(
        project_dir=dbt_project,
        dbt_executable=dbt_executable(),
        # dbt's file log at info, not debug: every SQL statement logged as JSON cost ≈ 1.5 s a run; the
        # run's own event log keeps dbt's structured output either way.
        global_config_flags=["--log-level-file", "info"],
    )
