"""The outbox sensor: due items → a run; nothing due, a backoff not over, or a run already going → skip."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest

from dagster_project.config.registry import DEFAULTS
from dagster_project.control import outbox
from dagster_project.definitions import defs
from dagster_project.defs.automation import ingest_build_publish_job, outbox_due_sensor
from dagster_project.settings import ENV_HOME, ENV_NOW, HomePaths

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


@pytest.fixture
def control_path(tmp_path, monkeypatch):
    monkeypatch.setenv(ENV_HOME, str(tmp_path))
    monkeypatch.setenv(ENV_NOW, NOW.isoformat())
    return HomePaths(tmp_path).ensure().control


def _item(event_id: str) -> dict:
    return {
        "org_id": "acme",
        "event_id": event_id,
        "entity_type": "signal",
        "entity_id": "s",
        "occurred_at": NOW,
    }


def _tick(instance: dg.DagsterInstance):
    return outbox_due_sensor(dg.build_sensor_context(instance=instance))


def test_no_control_store_or_nothing_due_skips(control_path):
    with dg.instance_for_test() as instance:
        assert isinstance(_tick(instance), dg.SkipReason)
        outbox.enqueue(control_path, [_item("e1")], NOW)
        claim = outbox.claim(control_path, now=NOW, limit=10, worker="w")
        outbox.complete(control_path, claim.token, claim.keys, NOW)
        assert isinstance(_tick(instance), dg.SkipReason)


def test_due_items_request_a_run(control_path):
    outbox.enqueue(control_path, [_item("e1"), _item("e2")], NOW)
    with dg.instance_for_test() as instance:
        request = _tick(instance)
    assert isinstance(request, dg.RunRequest)
    assert request.tags["workstream/due"] == "2"


def test_a_failed_item_is_due_only_after_its_backoff(control_path, monkeypatch):
    outbox.enqueue(control_path, [_item("e1")], NOW)
    claim = outbox.claim(control_path, now=NOW, limit=10, worker="w")
    outbox.fail(control_path, claim.token, claim.keys[0], "boom", NOW)
    with dg.instance_for_test() as instance:
        assert isinstance(_tick(instance), dg.SkipReason)  # due at NOW + 1 min
        monkeypatch.setenv(ENV_NOW, (NOW + timedelta(minutes=1)).isoformat())
        assert isinstance(_tick(instance), dg.RunRequest)


def test_an_active_run_means_no_second_request(control_path):
    outbox.enqueue(control_path, [_item("e1")], NOW)
    with dg.instance_for_test() as instance:
        job = defs.resolve_job_def(ingest_build_publish_job.name)
        instance.create_run_for_job(job, status=dg.DagsterRunStatus.STARTED)
        assert isinstance(_tick(instance), dg.SkipReason)


def test_a_claim_left_by_a_killed_run_requests_a_run_once_it_is_stale(control_path, monkeypatch):
    outbox.enqueue(control_path, [_item("e1")], NOW)
    outbox.claim(control_path, now=NOW, limit=10, worker="run:killed")  # never completed
    with dg.instance_for_test() as instance:
        assert isinstance(_tick(instance), dg.SkipReason)  # a live run may still complete it
        stale = int(DEFAULTS["outbox.stale_claim_minutes"])
        monkeypatch.setenv(ENV_NOW, (NOW + timedelta(minutes=stale, seconds=1)).isoformat())
        request = _tick(instance)
    assert isinstance(request, dg.RunRequest) and request.tags["workstream/due"] == "1"
