"""Under `workstream serve`, an enrichment run goes beside the builds, never ahead of or behind them, and
two writer runs never go together: the home's instance config, its run coordinator and Dagster's own
dequeuer, tick by tick (no daemon loop, no sleeping; launches are recorded, not executed)."""

from __future__ import annotations

import functools

import dagster as dg
import pytest
import yaml

# Dagster internals, in this test only: the queue daemon's iteration is what `serve`'s daemon runs every
# second, so the test asks it (not a copy of its rules) which runs it would launch now; the origin and
# the run helper build queued runs the way the sensor daemon does, without executing anything.
from dagster._core.remote_origin import RegisteredCodeLocationOrigin, RemoteJobOrigin, RemoteRepositoryOrigin
from dagster._core.test_utils import create_run_for_test
from dagster._daemon.run_coordinator.queued_run_coordinator_daemon import QueuedRunCoordinatorDaemon

from dagster_project.commands.dagster_home import write_dagster_home
from dagster_project.definitions import defs
from dagster_project.defs.run_slots import ENRICHMENT, RUN_SLOT_TAG, WRITER, slot_of
from dagster_project.settings import HomePaths

BUILD = "ingest_build_publish_job"
ENRICH = "enrichment_job"
WRITER_JOBS = [BUILD, "sla_alert_job", "dbt_tests_job", "full_build_job"]


class _Workspace:
    """What the queue daemon needs of `serve`'s workspace here: the instance (the recording launcher
    needs no code location)."""

    def __init__(self, instance: dg.DagsterInstance) -> None:
        self.instance = instance

    def create_request_context(self) -> None:
        return None


@pytest.fixture
def instance(tmp_path):
    """An instance with the queue config `serve` writes for a home, and a launcher that records."""
    home = write_dagster_home(HomePaths(tmp_path / "home"))
    config = yaml.safe_load((home / "dagster.yaml").read_text())
    config["run_launcher"] = {"module": "dagster._core.test_utils", "class": "MockedRunLauncher"}
    with dg.instance_for_test(overrides=config) as instance:
        yield instance


@functools.cache
def _run_tags_of(job_name: str) -> dict[str, str]:
    return dict(defs.resolve_job_def(job_name).run_tags)


def _queue(instance: dg.DagsterInstance, job_name: str, tags: dict[str, str] | None = None) -> str:
    """Queue a run of the job as a sensor does (the job's run tags plus the request's, the origin of its
    code, through the instance's run coordinator); without the plan snapshots, which no queue reads."""
    # Where the run's code is, as the sensor daemon records it (Dagster queues no run without it).
    repository = RemoteRepositoryOrigin(RegisteredCodeLocationOrigin("dagster_project"), "__repository__")
    run = create_run_for_test(
        instance,
        job_name=job_name,
        tags={**_run_tags_of(job_name), **(tags or {})},
        remote_job_origin=RemoteJobOrigin(repository, job_name),
    )
    instance.run_coordinator.submit_run(dg.SubmitRunContext(run, workspace=None))
    return run.run_id


def _tick(instance: dg.DagsterInstance, daemon: QueuedRunCoordinatorDaemon) -> list[str]:
    """One pass of the queue daemon: the job names of the runs it launched, in order."""
    before = len(instance.run_launcher.queue())
    list(daemon.run_iteration(_Workspace(instance)))
    return [run.job_name for run in instance.run_launcher.queue()[before:]]


def _finish(instance: dg.DagsterInstance, run_id: str) -> None:
    run = instance.get_run_by_id(run_id)
    event = dg.DagsterEvent(event_type_value="PIPELINE_SUCCESS", job_name=run.job_name)
    instance.report_dagster_event(event, run_id=run_id)


def _in_progress(instance: dg.DagsterInstance) -> list[dg.DagsterRun]:
    statuses = [dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED]
    return list(instance.get_runs(dg.RunsFilter(statuses=statuses)))


def test_a_build_is_dequeued_while_an_enrichment_run_is_in_progress(instance):
    daemon = QueuedRunCoordinatorDaemon(interval_seconds=1)
    _queue(instance, ENRICH, {"workstream/trigger": "snapshot"})
    assert _tick(instance, daemon) == [ENRICH]
    _queue(instance, BUILD, {"workstream/files": "drop.jsonl"})
    assert _tick(instance, daemon) == [BUILD]
    assert sorted(run.job_name for run in _in_progress(instance)) == sorted([BUILD, ENRICH])


def test_an_enrichment_run_is_dequeued_while_a_build_is_in_progress(instance):
    daemon = QueuedRunCoordinatorDaemon(interval_seconds=1)
    _queue(instance, BUILD)
    assert _tick(instance, daemon) == [BUILD]
    _queue(instance, ENRICH)
    assert _tick(instance, daemon) == [ENRICH]


def test_two_writer_runs_are_never_dequeued_together_nor_two_enrichment_runs(instance):
    daemon = QueuedRunCoordinatorDaemon(interval_seconds=1)
    queued = [_queue(instance, name) for name in WRITER_JOBS] + [_queue(instance, ENRICH) for _ in range(2)]
    launched: list[str] = []
    for _ in range(len(queued) + 1):
        launched += _tick(instance, daemon)
        going = _in_progress(instance)
        assert [slot_of(run.tags) for run in going].count(WRITER) <= 1
        assert [slot_of(run.tags) for run in going].count(ENRICHMENT) <= 1
        # A second pass in the same state launches nothing: both slots it could use are taken.
        if len(going) == 2:
            assert _tick(instance, daemon) == []
        for run in going:
            _finish(instance, run.run_id)
    # Every run went, the writers in the order they were queued.
    assert [name for name in launched if name != ENRICH] == WRITER_JOBS
    assert launched.count(ENRICH) == 2


def test_a_run_without_a_slot_counts_as_a_writer(instance):
    """A run launched from the UI with no tag (or a made-up slot) must not slip past the writers' limit."""
    daemon = QueuedRunCoordinatorDaemon(interval_seconds=1)
    _queue(instance, BUILD)
    assert _tick(instance, daemon) == [BUILD]
    untagged = _queue(instance, "__ASSET_JOB")
    made_up = _queue(instance, BUILD, {RUN_SLOT_TAG: "fast lane"})
    for run_id in (untagged, made_up):
        assert instance.get_run_by_id(run_id).tags[RUN_SLOT_TAG] == WRITER
    assert _tick(instance, daemon) == []


def test_each_job_of_the_definitions_says_its_slot_and_only_enrichment_job_takes_the_enrichment_one():
    jobs = {job.name: job for job in defs.resolve_all_job_defs() if job.name != "__ASSET_JOB"}
    slots = {name: job.run_tags.get(RUN_SLOT_TAG) for name, job in jobs.items()}
    assert slots == {name: ENRICHMENT if name == ENRICH else WRITER for name in jobs}
    assert set(WRITER_JOBS) | {ENRICH} == set(jobs)
