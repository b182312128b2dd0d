"""A run launcher that executes each run inside the long-lived Dagster daemon, on a worker thread.

Why: Dagster's default launcher starts a fresh process per run, which imports dagster, dagster-dbt, dbt,
polars, pandera and this project (≈ 7 s on an idle 2-core machine, ≈ 22–24 s measured under `workstream
serve`'s own load) before the first step runs. The daemon that dequeues runs imports them once, so a
run launched here starts in well under a second: most of the freshness budget goes to the work.

Trade-offs, chosen for `workstream serve` (one home, one run at a time): code changes need a restart of
`workstream serve` (the daemon keeps the modules it imported); a run that crashes the interpreter takes
the daemon with it (`dagster dev` does not restart it; at the next start the daemon marks that run
failed, and the next run recovers its stale outbox claims). `WORKSTREAM_RUN_LAUNCHER=subprocess` switches back to
Dagster's default launcher.
"""

from __future__ import annotations

import importlib
import os
import sys
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dagster import DagsterInstance, DagsterRunStatus, RunsFilter
from dagster._core.execution.api import execute_run
from dagster._core.launcher import LaunchRunContext, RunLauncher
from dagster._core.run_coordinator import QueuedRunCoordinator
from dagster._serdes import ConfigurableClass
from dagster._serdes.config_class import ConfigurableClassData
from dagster._utils.hosted_user_process import recon_job_from_origin


def is_daemon_process() -> bool:
    """True inside `dagster-daemon` (the process that launches runs), not the webserver or the CLI."""
    # `dagster dev` starts it as `python -m dagster._daemon run`; a deployment as `dagster-daemon run`.
    argv0 = Path(sys.argv[0]) if sys.argv and sys.argv[0] else Path()
    return argv0.name == "dagster-daemon" or argv0.parts[-2:] == ("_daemon", "__main__.py")


LAUNCHER_TAG = "workstream/launched_in"


def fail_orphaned_runs(instance: DagsterInstance, pid: int) -> list[str]:
    """Runs an earlier daemon process launched in-process and never finished (it stopped mid-run) are
    reported failed: left STARTED, they would hold the one-run-at-a-time queue forever. The apply and
    publish steps are safe to redo, so the next run picks up where the dead one stopped."""
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
    """Dagster's queued run coordinator. Inside the daemon (which builds it at start-up; the run launcher
    only at the first launch) it also fails runs an earlier daemon left unfinished and imports the code
    location in the background (and, with the in-process launcher, imports dbt and parses the project),
    so even the first run launched in-process starts warm."""

    def register_instance(self, instance: DagsterInstance) -> None:
        super().register_instance(instance)
        if is_daemon_process():
            threading.Thread(
                target=self._start_up, args=(instance,), name="workstream-warm-up", daemon=True
            ).start()

    @staticmethod
    def _start_up(instance: DagsterInstance) -> None:
        fail_orphaned_runs(instance, os.getpid())
        definitions = importlib.import_module("dagster_project.definitions")
        if isinstance(instance.run_launcher, InProcessThreadRunLauncher):
            # Builds run dbt in this process: import it and parse the project before the first drop.
            from dagster_project.settings import HomePaths, home_from_env

            definitions.defs.resources["dbt"].warm_up(HomePaths(home_from_env()).ensure())


def execute_in_turn(recon_job: Any, run: Any, instance: DagsterInstance) -> None:
    """Execute the run once no other run of this home (a `workstream run` of the CLI) is going."""
    from dagster_project.control.run_lock import run_lock
    from dagster_project.settings import home_from_env

    with run_lock(home_from_env()):
        execute_run(recon_job, run, instance)


class InProcessThreadRunLauncher(RunLauncher, ConfigurableClass):
    """Execute the run in this process on its own thread (the daemon's loop keeps going meanwhile)."""

    def __init__(self, inst_data: ConfigurableClassData | None = None) -> None:
        self._inst_data = inst_data
        super().__init__()

    @property
    def inst_data(self) -> ConfigurableClassData | None:
        return self._inst_data

    @classmethod
    def config_type(cls) -> dict:
        return {}

    @classmethod
    def from_config_value(
        cls, inst_data: ConfigurableClassData, config_value: Mapping[str, Any]
    ) -> InProcessThreadRunLauncher:
        return cls(inst_data=inst_data)

    def launch_run(self, context: LaunchRunContext) -> None:
        run = context.dagster_run
        self._instance.add_run_tags(run.run_id, {LAUNCHER_TAG: str(os.getpid())})
        recon_job = recon_job_from_origin(context.job_code_origin)  # type: ignore[arg-type]
        threading.Thread(
            target=execute_in_turn,
            args=(recon_job, run, self._instance),
            name=f"workstream-run-{run.run_id[:8]}",
            daemon=True,
        ).start()

    def terminate(self, run_id: str) -> bool:
        """A thread cannot be killed safely: report that termination is not possible here."""
        return False
