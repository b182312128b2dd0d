"""Dagster resources: where the home and inbox are, the run's clock, and dbt."""

from __future__ import annotations

import importlib.metadata
import os
import sys
from collections.abc import Sequence
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
    as_of_is_past,
    default_clock,
    home_from_env,
    inbox_from_env,
    parse_timestamp,
    refuse_future_as_of,
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
    every asset in the run agrees. An as-of later than the clock (beyond `AS_OF_TOLERANCE`) is refused:
    whatever launched the run (CLI, launchpad, a schedule) gets the same answer.
    """

    now: str = ""
    as_of: str = ""
    _now: datetime | None = PrivateAttr(default=None)
    _as_of: datetime | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        # Parsed here once: every asset of the run asks for these times, and the apply stores them
        # (`core.run_clock`) for dbt, so nothing else parses the run's as-of again.
        self._now = parse_timestamp(self.now) if self.now else default_clock().now()
        self._as_of = parse_timestamp(self.as_of) if self.as_of else self._now
        refuse_future_as_of(self._as_of, self._now)

    def current(self) -> datetime:
        assert self._now is not None
        return self._now

    def as_of_time(self) -> datetime:
        assert self._as_of is not None
        return self._as_of

    def is_past(self) -> bool:
        """The run computes a view of the past (an as-of earlier than its clock beyond the tolerance):
        outputs about *now* (alerts) have no business being made from it."""
        return as_of_is_past(self.as_of_time(), self.current())


class WorkstreamDbtCliResource(DbtCliResource):
    """dagster-dbt's resource without two fixed costs we never use (≈ 10 s of every run, measured):

    * `_cli_version` ran `dbt --version` in a subprocess (≈ 4 s of imports) per run process; the
      venv's dbt-core is the one installed beside us, so its package version is the answer.
    * `_initialize_dbt_core_adapter` loaded the dbt project and profile in-process (≈ 5 s) to hold a
      read-only adapter, only needed for `fetch_column_metadata` / `fetch_row_counts`, which we do not
      call (and a read-only DuckDB handle on the warehouse is what we avoid anyway).
    Both are private hooks of the pinned dagster-dbt 0.29.x; `tests/dagster` pins the behaviour.
    """

    in_process: bool = True

    @cached_property
    def _cli_version(self) -> version.Version:
        return version.parse(importlib.metadata.version("dbt-core"))

    def _initialize_dbt_core_adapter(self, args):  # noqa: ANN001, ANN202 (dagster-dbt's signature)
        return None

    def cli(  # noqa: ANN201, D417 (dagster-dbt's signature and docs)
        self,
        args: Sequence[str],
        *,
        raise_on_error: bool = True,
        manifest=None,  # noqa: ANN001
        dagster_dbt_translator=None,  # noqa: ANN001
        context=None,  # noqa: ANN001
        target_path: Path | None = None,
        in_process: bool | None = None,
    ):
        """dagster-dbt's `cli`, with dbt run in this process (`dbt_in_process.py`) unless
        `in_process` is off (for the resource, or for this call): the same selection, the same
        events, the same errors.

        The selection logic is dagster-dbt's own (`get_updated_cli_invocation_params_for_context`);
        only the process start differs, and `DbtCliInvocation` reads the stand-in like a subprocess.
        """
        if not (self.in_process if in_process is None else in_process):
            return super().cli(
                args,
                raise_on_error=raise_on_error,
                manifest=manifest,
                dagster_dbt_translator=dagster_dbt_translator,
                context=context,
                target_path=target_path,
            )
        from dagster_dbt.asset_utils import (
            DBT_INDIRECT_SELECTION_ENV,
            extract_runtime_selection_from_args,
            get_updated_cli_invocation_params_for_context,
        )
        from dagster_dbt.core.dbt_cli_invocation import DbtCliInvocation
        from dagster_dbt.dagster_dbt_translator import DagsterDbtTranslator, validate_opt_translator
        from dagster_dbt.dbt_manifest import validate_manifest

        from dagster_project.defs.dbt_in_process import InProcessDbtProcess

        translator = validate_opt_translator(dagster_dbt_translator) or DagsterDbtTranslator()
        manifest = validate_manifest(manifest) if manifest else {}
        cleaned_args, selects, excludes = extract_runtime_selection_from_args(args)
        params = get_updated_cli_invocation_params_for_context(
            context=context,
            manifest=manifest,
            dagster_dbt_translator=translator,
            runtime_selects=selects,
            runtime_excludes=excludes,
        )
        target_path = target_path or self._get_unique_target_path(context=context)
        project_dir = Path(params.dbt_project.project_dir if params.dbt_project else self.project_dir)
        if not target_path.is_absolute():
            target_path = project_dir / target_path
        # What dagster-dbt passes through the environment, as flags (the environment is shared here).
        indirect = params.indirect_selection or os.environ.get(DBT_INDIRECT_SELECTION_ENV)
        common = self._in_process_args(target_path, project_dir)
        command = [
            *cleaned_args,
            *self.global_config_flags,
            *params.selection_args,
            *(["--indirect-selection", indirect] if indirect else []),
        ]
        process = InProcessDbtProcess(
            command,
            common,
            project_dir,
            # dagster-dbt copies the project to a temporary folder for very large selections:
            # a manifest for a folder that is never used again is not kept.
            keep_manifest=project_dir.resolve() == Path(self.project_dir).resolve(),
        )
        return DbtCliInvocation(
            process=process,
            manifest=params.manifest,
            dagster_dbt_translator=params.dagster_dbt_translator,
            project_dir=project_dir,
            target_path=target_path,
            raise_on_error=raise_on_error,
            context=context,
            adapter=None,
            cli_version=self._cli_version,
            project=params.dbt_project,
        )

    def _in_process_args(self, target_path: Path, project_dir: Path) -> list[str]:
        """What dagster-dbt passes a dbt process through its environment, as flags (in-process, the
        environment is shared); also the key under which a parsed manifest is kept."""
        return [
            "--log-format-file",
            "json",
            "--log-level",
            "none",
            "--no-send-anonymous-usage-stats",
            "--target-path",
            str(target_path),
            "--log-path",
            str(target_path),
            "--project-dir",
            str(project_dir),
            "--profiles-dir",
            str(self.profiles_dir or project_dir),
            *(["--profile", self.profile] if self.profile else []),
            *(["--target", self.target] if self.target else []),
        ]

    def warm_up(self, paths: HomePaths) -> None:
        """Import dbt and parse the project for this home now, so the first build starts warm."""
        if not self.in_process:
            return
        from dagster_project.defs.dbt_in_process import prepare_manifest

        os.environ["WORKSTREAM_WAREHOUSE"] = str(paths.warehouse)
        project_dir = Path(self.project_dir)
        prepare_manifest(self._in_process_args(paths.dbt_target, project_dir), project_dir)


def build_dbt_resource() -> DbtCliResource:
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    return WorkstreamDbtCliResource(
        project_dir=dbt_project,
        dbt_executable=dbt_executable(),
        # dbt's file log at info, not debug: every SQL statement logged as JSON cost ≈ 1.5 s a run; the
        # run's own event log keeps dbt's structured output either way.
        global_config_flags=["--log-level-file", "info"],
        # WORKSTREAM_DBT_IN_PROCESS=0 goes back to dagster-dbt's one process per dbt command.
        in_process=os.environ.get("WORKSTREAM_DBT_IN_PROCESS", "1") != "0",
    )
