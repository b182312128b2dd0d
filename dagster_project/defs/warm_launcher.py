"""A run launcher that executes each run inside the long-lived Dagster daemon, on a worker thread.

Why: Dagster's default launcher starts a fresh process per run, which imports dagster, dagster-dbt, dbt,
polars, pandera and this project before the first step runs, and under `workstream serve`'s own load that
is a large part of the freshness budget. The daemon that dequeues runs imports them once, so a run launched
here starts in well under a second.

Trade-offs, chosen for `workstream serve` (one home, one writer run at a time): code changes need a
restart of `workstream serve` (the daemon keeps the modules it imported); a run that crashes the
interpreter takes the daemon with it (`dagster dev` does not restart it; at the next start the daemon
marks that run failed, and the next run recovers its stale outbox claims).

Only writer runs execute here (dagster_project/defs/run_slots.py). The enrichment run that may go beside
one is handed to Dagster's default launcher, a process of its own: two runs on threads of one process
would share its standard streams (which Dagster redirects to capture each step's output) and its
modules' state, and the enrichment run is off the freshness path, so its start-up cost does not matter.
It takes no run lock either: it writes neither the warehouse nor the snapshot.

This is the one module of the project allowed to use Dagster's private internals (two functions: run a
run in this process, rebuild its job from the run's origin). So that a Dagster upgrade cannot break runs
silently, they are:
* imported only when the installed dagster is in the range this module is tested with (`TESTED_DAGSTER`);
  outside it, runs go through Dagster's default launcher (this class extends it), with one log line;
* each checked by `tests/dagster/test_launcher.py` (exists, with the signature used here);
* switchable off: `WORKSTREAM_RUN_LAUNCHER=subprocess` writes Dagster's default launcher into the instance.

It also holds the project's one override of dagster-dbt internals, `LeanDbtCliResource` (below), kept
to the same three rules: `TESTED_DAGSTER_DBT`, a test per symbol in tests/dagster/test_lean_dbt.py, and
`WORKSTREAM_DBT_RESOURCE=stock` to go back to dagster-dbt's own resource.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import logging
import os
import sys
import threading
from functools import cached_property
from pathlib import Path
from typing import Any

import dagster
import dagster_dbt
from dagster import (
    DagsterInstance,
    DagsterRun,
    DagsterRunStatus,
    DefaultRunLauncher,
    QueuedRunCoordinator,
    RunsFilter,
    SubmitRunContext,
)
from dagster_dbt import DbtCliResource
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from dagster_project.defs.run_slots import ENRICHMENT, RUN_SLOT_TAG, slot_of

# The dagster versions whose private `execute_run` and `recon_job_from_origin` this module is tested with
# (pyproject.toml pins the one installed). Widen only after tests/dagster/test_launcher.py passes there.
TESTED_DAGSTER = SpecifierSet(">=1.13.27,<1.14")
log = logging.getLogger(__name__)


def warm_launch_supported(installed: str = dagster.__version__) -> bool:
    """The installed dagster is one this launcher's private imports are tested with."""
    return Version(installed) in TESTED_DAGSTER


def is_daemon_process() -> bool:
    """True inside `dagster-daemon` (the process that launches runs), not the webserver or the CLI."""
    # `dagster dev` starts it as `python -m dagster._daemon run`; a deployment as `dagster-daemon run`.
    argv0 = Path(sys.argv[0]) if sys.argv and sys.argv[0] else Path()
    return argv0.name == "dagster-daemon" or argv0.parts[-2:] == ("_daemon", "__main__.py")


LAUNCHER_TAG = "workstream/launched_in"


def fail_orphaned_runs(instance: DagsterInstance, pid: int) -> list[str]:
    """Runs an earlier daemon process launched and never finished (it stopped mid-run, and `serve` stops
    the processes it started with it) are reported failed: left STARTED, they would hold their run slot
    forever. The apply and publish steps are safe to redo, so the next run picks up where the dead one
    stopped; enrichment calls a dead run claimed are recovered like any stale outbox claim."""
    failed = []
    records = instance.get_run_records(
        RunsFilter(statuses=[DagsterRunStatus.STARTING, DagsterRunStatus.STARTED])
    )
    for record in records:
        run = record.dagster_run
        launched_in = run.tags.get(LAUNCHER_TAG)
        if launched_in is not None and launched_in != str(pid):
            instance.report_run_failed(
                run, f"the daemon process {launched_in} that executed this run stopped before it finished"
            )
            failed.append(run.run_id)
    return failed


class WarmQueuedRunCoordinator(QueuedRunCoordinator):
    """Dagster's queued run coordinator. Each run it queues takes a run slot: a run not tagged for the
    enrichment slot is tagged a writer, so the instance's per-slot limits hold for every run, those
    launched from the UI included. Inside the daemon (which builds it at start-up; the run launcher only
    at the first launch) it also fails runs an earlier daemon left unfinished and imports the code
    location in the background, so even the first run launched in-process starts warm."""

    _workstream_instance: DagsterInstance | None = None

    def register_instance(self, instance: DagsterInstance) -> None:
        super().register_instance(instance)
        self._workstream_instance = instance
        if is_daemon_process():
            threading.Thread(
                target=self._start_up, args=(instance,), name="workstream-warm-up", daemon=True
            ).start()

    def submit_run(self, context: SubmitRunContext) -> DagsterRun:
        run = context.dagster_run
        slot = slot_of(run.tags)
        if self._workstream_instance is not None and run.tags.get(RUN_SLOT_TAG) != slot:
            # Tagged before it is queued: the queue never sees the run without its slot.
            self._workstream_instance.add_run_tags(run.run_id, {RUN_SLOT_TAG: slot})
        return super().submit_run(context)

    @staticmethod
    def _start_up(instance: DagsterInstance) -> None:
        fail_orphaned_runs(instance, os.getpid())
        importlib.import_module("dagster_project.definitions")


def execute_in_turn(recon_job: Any, run: Any, instance: DagsterInstance) -> None:
    """Execute the run once no other run of this home (a `workstream run` of the CLI) is going."""
    from dagster._core.execution.api import execute_run

    from dagster_project.control.run_lock import run_lock
    from dagster_project.settings import home_from_env

    with run_lock(home_from_env()):
        execute_run(recon_job, run, instance)


class InProcessThreadRunLauncher(DefaultRunLauncher):
    """Execute a writer run in this process on its own thread (the daemon's loop keeps going meanwhile);
    an enrichment run in a process of its own, through Dagster's default launcher (see the module's doc).

    Outside `TESTED_DAGSTER` it is Dagster's default launcher (a process per run), said once in the log.
    """

    def __init__(self, inst_data: Any = None) -> None:
        super().__init__(inst_data=inst_data)
        self.warm = warm_launch_supported()
        self._workstream_instance: DagsterInstance | None = None
        if not self.warm:
            log.warning(
                "dagster %s is outside the range the in-daemon run launcher is tested with (%s): "
                "runs start in a process of their own (Dagster's default launcher)",
                dagster.__version__,
                TESTED_DAGSTER,
            )

    def register_instance(self, instance: DagsterInstance) -> None:
        super().register_instance(instance)
        self._workstream_instance = instance

    def launch_run(self, context: Any) -> None:
        if not self.warm:
            super().launch_run(context)
            return
        instance = self._workstream_instance
        assert instance is not None, "Dagster registers the instance before launching runs"
        run = context.dagster_run
        instance.add_run_tags(run.run_id, {LAUNCHER_TAG: str(os.getpid())})
        if slot_of(run.tags) == ENRICHMENT:
            # In a process of its own (the module's doc says why). Tagged like the others all the same: a
            # daemon that stops mid-run must not leave it holding the enrichment slot; the next start fails it.
            super().launch_run(context)
            return
        from dagster._utils.hosted_user_process import recon_job_from_origin

        recon_job = recon_job_from_origin(run.job_code_origin)
        threading.Thread(
            target=execute_in_turn,
            args=(recon_job, run, instance),
            name=f"workstream-run-{run.run_id[:8]}",
            daemon=True,
        ).start()

    def terminate(self, run_id: str) -> bool:
        """A thread cannot be killed safely: a run executing here cannot be terminated; a run in a
        process of its own (an enrichment run) is terminated as Dagster's default launcher does."""
        instance = self._workstream_instance
        run = instance.get_run_by_id(run_id) if instance is not None else None
        if self.warm and (run is None or slot_of(run.tags) != ENRICHMENT):
            return False
        return super().terminate(run_id)


# --------------------------------------------------------------------------- dagster-dbt's preflight
# The dagster-dbt versions whose private `DbtCliResource._cli_version` and `_initialize_dbt_core_adapter`
# `LeanDbtCliResource` overrides (pyproject.toml pins the one installed). Widen only after
# tests/dagster/test_lean_dbt.py passes there.
TESTED_DAGSTER_DBT = SpecifierSet(">=0.29.27,<0.30")
ENV_DBT_RESOURCE = "WORKSTREAM_DBT_RESOURCE"
DBT_RESOURCES = ("lean", "stock")


class LeanDbtCliResource(DbtCliResource):
    """dagster-dbt's `DbtCliResource` without the two things its `cli()` does before every dbt command
    that our runs never use:

    * it builds an in-process dbt adapter (loading every dbt macro with Jinja), which only serves
      `fetch_row_counts` / `fetch_column_metadata`: no asset of this project asks for them, so the
      handle is none, as dagster-dbt's own `DbtCliInvocation` allows;
    * it runs `dbt --version` in a process of its own to learn which dbt it drives: the launcher
      (`workstream-dbt`) runs the dbt of this interpreter's environment, whose version the installed
      dbt-core package states. Any other executable is asked as dagster-dbt asks it.
    """

    @cached_property
    def _cli_version(self) -> Version:
        beside_us = Path(self.dbt_executable).parent == Path(sys.executable).parent
        if not beside_us:
            return super()._cli_version
        return Version(importlib.metadata.version("dbt-core"))

    def _initialize_dbt_core_adapter(self, args: Any) -> Any:
        return None


def lean_dbt_supported(installed: str = dagster_dbt.__version__) -> bool:
    """The installed dagster-dbt is one `LeanDbtCliResource`'s overrides are tested with."""
    return Version(installed) in TESTED_DAGSTER_DBT


def dbt_resource_class() -> type[DbtCliResource]:
    """`LeanDbtCliResource`, unless switched off (`WORKSTREAM_DBT_RESOURCE=stock`) or the installed
    dagster-dbt is outside `TESTED_DAGSTER_DBT` (then dagster-dbt's own, said once in the log)."""
    choice = os.environ.get(ENV_DBT_RESOURCE, "lean").strip() or "lean"
    if choice not in DBT_RESOURCES:
        raise ValueError(f"{ENV_DBT_RESOURCE}={choice!r}: use one of {', '.join(DBT_RESOURCES)}")
    if choice == "stock":
        return DbtCliResource
    if not lean_dbt_supported():
        _warn_stock_dbt_once()
        return DbtCliResource
    return LeanDbtCliResource


_WARNED: list[bool] = []


def _warn_stock_dbt_once() -> None:
    if not _WARNED:
        _WARNED.append(True)
        log.warning(
            "dagster-dbt %s is outside the range the lean dbt resource is tested with (%s): "
            "dagster-dbt's own resource runs dbt",
            dagster_dbt.__version__,
            TESTED_DAGSTER_DBT,
        )
