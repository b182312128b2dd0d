"""The in-process launcher's bookkeeping: orphaned runs fail, live and CLI runs stay; the instance config."""

from __future__ import annotations

import os
import threading

import dagster as dg
import pytest
import yaml

from dagster_project.commands.dagster_home import write_dagster_home
from dagster_project.definitions import defs
from dagster_project.defs.automation import ingest_build_publish_job
from dagster_project.defs.warm_launcher import LAUNCHER_TAG, fail_orphaned_runs, is_daemon_process
from dagster_project.settings import HomePaths


def test_runs_a_dead_daemon_left_started_are_failed_and_no_others():
    job = defs.resolve_job_def(ingest_build_publish_job.name)
    with dg.instance_for_test() as instance:
        orphan = instance.create_run_for_job(
            job, status=dg.DagsterRunStatus.STARTED, tags={LAUNCHER_TAG: "1"}
        )
        live = instance.create_run_for_job(
            job, status=dg.DagsterRunStatus.STARTED, tags={LAUNCHER_TAG: str(os.getpid())}
        )
        cli_run = instance.create_run_for_job(job, status=dg.DagsterRunStatus.STARTED)
        done = instance.create_run_for_job(job, status=dg.DagsterRunStatus.SUCCESS, tags={LAUNCHER_TAG: "1"})
        assert fail_orphaned_runs(instance, os.getpid()) == [orphan.run_id]
        status = {r.run_id: instance.get_run_by_id(r.run_id).status for r in (orphan, live, cli_run, done)}
    assert status == {
        orphan.run_id: dg.DagsterRunStatus.FAILURE,
        live.run_id: dg.DagsterRunStatus.STARTED,
        cli_run.run_id: dg.DagsterRunStatus.STARTED,
        done.run_id: dg.DagsterRunStatus.SUCCESS,
    }


def test_only_the_daemon_counts_as_the_daemon(monkeypatch):
    monkeypatch.setattr("sys.argv", ["/venv/lib/python3.11/site-packages/dagster/_daemon/__main__.py", "run"])
    assert is_daemon_process()
    monkeypatch.setattr("sys.argv", ["/venv/bin/dagster-daemon", "run"])
    assert is_daemon_process()
    for argv0 in ("/venv/bin/dagster-webserver", "/venv/bin/workstream", ""):
        monkeypatch.setattr("sys.argv", [argv0])
        assert not is_daemon_process()


@pytest.mark.parametrize(
    ("choice", "launcher"), [("in-process", "InProcessThreadRunLauncher"), ("subprocess", None)]
)
def test_instance_config_queues_one_writer_beside_one_enrichment_run_and_picks_the_launcher(
    tmp_path, monkeypatch, choice, launcher
):
    monkeypatch.setenv("WORKSTREAM_RUN_LAUNCHER", choice)
    home = write_dagster_home(HomePaths(tmp_path))
    config = yaml.safe_load((home / "dagster.yaml").read_text())
    assert config["run_coordinator"]["config"] == {
        "max_concurrent_runs": 2,
        "dequeue_interval_seconds": 1,
        "tag_concurrency_limits": [
            {"key": "workstream/run_slot", "value": "writer", "limit": 1},
            {"key": "workstream/run_slot", "value": "enrichment", "limit": 1},
        ],
    }
    assert config.get("run_launcher", {}).get("class") == launcher
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with dg.DagsterInstance.get() as instance:  # Dagster accepts the file and builds both classes
        assert type(instance.run_coordinator).__name__ == "WarmQueuedRunCoordinator"
        assert type(instance.run_launcher).__name__ == (launcher or "DefaultRunLauncher")
        queue = instance.get_concurrency_config().run_queue_config
        assert (queue.max_concurrent_runs, len(queue.tag_concurrency_limits)) == (2, 2)


def test_an_unknown_launcher_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKSTREAM_RUN_LAUNCHER", "threads")
    with pytest.raises(Exception, match="WORKSTREAM_RUN_LAUNCHER"):
        write_dagster_home(HomePaths(tmp_path))


@dg.op
def _finds_the_run_lock_held() -> None:
    from filelock import FileLock, Timeout

    from dagster_project.control.run_lock import run_lock_path
    from dagster_project.settings import home_from_env

    try:
        FileLock(run_lock_path(home_from_env()), thread_local=False).acquire(timeout=0)
    except Timeout:
        return
    raise AssertionError("the run executed without holding the home's run lock")


@dg.job
def lock_probe_job() -> None:
    _finds_the_run_lock_held()


def test_a_run_the_daemon_launches_in_process_holds_the_homes_run_lock(tmp_path, monkeypatch):
    """So `workstream run` (which takes the same lock) waits for it instead of writing alongside."""
    from dagster_project.defs.warm_launcher import execute_in_turn

    monkeypatch.setenv("WORKSTREAM_HOME", str(tmp_path))
    with dg.instance_for_test() as instance:
        run = instance.create_run_for_job(lock_probe_job)
        execute_in_turn(dg.reconstructable(lock_probe_job), run, instance)
        assert instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.SUCCESS


def _runs_of(instance: dg.DagsterInstance, *job_names: str) -> list[dg.DagsterRun]:
    """A run per job with the job's run tags, as a sensor creates it (no plan snapshot: nothing executes)."""
    from dagster._core.test_utils import create_run_for_test

    return [
        create_run_for_test(instance, job_name=name, tags=dict(defs.resolve_job_def(name).run_tags))
        for name in job_names
    ]


def test_an_enrichment_run_starts_in_a_process_of_its_own_without_the_run_lock_and_a_writer_in_the_daemon(
    monkeypatch,
):
    """Two runs on threads of one process would share its standard streams; the enrichment run also
    needs no run lock (it writes neither the warehouse nor the snapshot), which only the daemon's
    in-process path takes."""
    from dagster._core.launcher import LaunchRunContext

    from dagster_project.defs import warm_launcher

    in_daemon, own_process = [], []
    monkeypatch.setattr(
        warm_launcher, "execute_in_turn", lambda job, run, inst: in_daemon.append(run.job_name)
    )
    monkeypatch.setattr(
        dg.DefaultRunLauncher,
        "launch_run",
        lambda self, context: own_process.append(context.dagster_run.job_name),
    )
    monkeypatch.setattr("dagster._utils.hosted_user_process.recon_job_from_origin", lambda origin: origin)
    with dg.instance_for_test() as instance:
        launcher = warm_launcher.InProcessThreadRunLauncher()
        launcher.register_instance(instance)
        runs = _runs_of(instance, "enrichment_job", ingest_build_publish_job.name)
        for run in runs:
            launcher.launch_run(LaunchRunContext(dagster_run=run, workspace=None))
        for thread in threading.enumerate():
            if thread.name.startswith("workstream-run-"):
                thread.join()
        # Both are this daemon's to fail if it stops mid-run.
        assert {instance.get_run_by_id(r.run_id).tags.get(LAUNCHER_TAG) for r in runs} == {str(os.getpid())}
    assert own_process == ["enrichment_job"]
    assert in_daemon == [ingest_build_publish_job.name]


def test_an_enrichment_run_can_be_terminated_and_a_run_in_the_daemon_cannot(monkeypatch):
    from dagster_project.defs import warm_launcher

    monkeypatch.setattr(dg.DefaultRunLauncher, "terminate", lambda self, run_id: True)
    with dg.instance_for_test() as instance:
        launcher = warm_launcher.InProcessThreadRunLauncher()
        launcher.register_instance(instance)
        enrichment, build = _runs_of(instance, "enrichment_job", ingest_build_publish_job.name)
        assert launcher.terminate(enrichment.run_id) is True
        assert launcher.terminate(build.run_id) is False


# --------------------------------------------------------------------------- the private symbols, one test each
# The launcher imports exactly these from Dagster's internals (only inside TESTED_DAGSTER). Each test pins what
# the launcher relies on, so a Dagster upgrade that changes one fails here, not in a live daemon.


def test_private_execute_run_takes_the_job_the_run_and_the_instance():
    import inspect

    from dagster._core.execution.api import execute_run

    assert list(inspect.signature(execute_run).parameters)[:3] == ["job", "dagster_run", "instance"]


def test_private_recon_job_from_origin_rebuilds_a_job_from_a_runs_code_origin():
    import inspect

    from dagster._utils.hosted_user_process import recon_job_from_origin

    assert list(inspect.signature(recon_job_from_origin).parameters) == ["origin"]
    # What the launcher hands it: the run's `job_code_origin` (a public DagsterRun attribute).
    assert "job_code_origin" in dg.DagsterRun.__dict__ or hasattr(dg.DagsterRun, "job_code_origin")


def test_the_installed_dagster_is_in_the_tested_range_and_others_are_not():
    from dagster_project.defs.warm_launcher import warm_launch_supported

    assert warm_launch_supported()
    for outside in ("1.12.9", "1.14.0", "2.0.0"):
        assert not warm_launch_supported(outside)


def test_outside_the_tested_range_runs_go_through_dagsters_default_launcher(monkeypatch, caplog):
    from dagster_project.defs import warm_launcher

    launched = []
    monkeypatch.setattr(warm_launcher, "warm_launch_supported", lambda: False)
    monkeypatch.setattr(dg.DefaultRunLauncher, "launch_run", lambda self, context: launched.append(context))
    with caplog.at_level("WARNING", logger=warm_launcher.__name__):
        launcher = warm_launcher.InProcessThreadRunLauncher()
    assert [r.getMessage() for r in caplog.records if "default launcher" in r.getMessage()] != []
    assert len(caplog.records) == 1
    launcher.launch_run("the launch context")
    assert launched == ["the launch context"]
