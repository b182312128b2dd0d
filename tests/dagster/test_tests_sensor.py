"""dbt's data tests follow the latest build once the inbox is quiet, never ahead of waiting data."""

from __future__ import annotations

import dagster as dg
import pytest

from dagster_project.definitions import defs
from dagster_project.defs.automation import (
    SkipText,
    build_to_test,
    dbt_tests_after_build_sensor,
    ingest_build_publish_job,
)
from dagster_project.settings import ENV_NOW

FINISHED = 1_800_000_000.0


@pytest.mark.parametrize(
    ("active", "last", "now", "expected"),
    [
        (False, None, FINISHED, None),  # nothing built yet
        (True, ("run-1", FINISHED), FINISHED + 3600, None),  # a build waits: data first
        (False, ("run-1", FINISHED), FINISHED + 59.999, None),  # not quiet long enough
        (False, ("run-1", FINISHED), FINISHED + 60, "run-1"),  # quiet for exactly the window
        (False, ("run-1", FINISHED), FINISHED + 3600, "run-1"),
    ],
)
def test_which_build_to_test(active, last, now, expected):
    decision = build_to_test(active, last, now, quiet_seconds=60)
    if expected is None:
        assert isinstance(decision, SkipText) and decision
    else:
        assert decision == expected and not isinstance(decision, SkipText)


def _tick(instance: dg.DagsterInstance):
    return dbt_tests_after_build_sensor(dg.build_sensor_context(instance=instance))


def test_sensor_tests_the_latest_success_once_quiet(monkeypatch):
    job = defs.resolve_job_def(ingest_build_publish_job.name)
    with dg.instance_for_test() as instance:
        monkeypatch.setenv(ENV_NOW, "2099-01-01T00:00:00+00:00")
        assert isinstance(_tick(instance), dg.SkipReason)  # no build yet
        instance.create_run_for_job(job, status=dg.DagsterRunStatus.SUCCESS)
        latest = instance.create_run_for_job(job, status=dg.DagsterRunStatus.SUCCESS)
        request = _tick(instance)
        assert isinstance(request, dg.RunRequest)
        assert request.run_key == latest.run_id  # one test run per build, the newest one
        # The clock says the build just happened (before it, even): not quiet yet.
        monkeypatch.setenv(ENV_NOW, "2000-01-01T00:00:00+00:00")
        assert isinstance(_tick(instance), dg.SkipReason)


def test_sensor_waits_while_a_build_is_starting(monkeypatch):
    job = defs.resolve_job_def(ingest_build_publish_job.name)
    monkeypatch.setenv(ENV_NOW, "2099-01-01T00:00:00+00:00")
    with dg.instance_for_test() as instance:
        instance.create_run_for_job(job, status=dg.DagsterRunStatus.SUCCESS)
        instance.create_run_for_job(job, status=dg.DagsterRunStatus.STARTING)
        assert isinstance(_tick(instance), dg.SkipReason)
