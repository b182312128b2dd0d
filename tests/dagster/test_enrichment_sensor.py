"""Enrichment under `workstream serve`: the sensor's decisions tick by tick (no daemon, no sleeping), and
a tick's run executed as the daemon would, against the shipped CSV server and misbehaving ones."""

from __future__ import annotations

import shutil
import sys
from datetime import timedelta
from pathlib import Path

import dagster as dg
import orjson
import pytest

from dagster_project.commands.run import run_pipeline
from dagster_project.control import outbox
from dagster_project.definitions import defs
from dagster_project.defs.automation import inbox_files_sensor
from dagster_project.defs.enrichment import enrichment_job, enrichment_sensor
from dagster_project.mcp import enrichment
from dagster_project.settings import ENV_HOME, ENV_INBOX, ENV_NOW, HomePaths, parse_timestamp
from tests.events_factory import event, write_jsonl
from tests.integration.memory_events import NOW, age

MCP_TESTS = Path(__file__).resolve().parents[1] / "mcp"
OPT = enrichment.OptIn("acme", "facts", {"name": "name"}, 30, None)


@pytest.fixture
def home(tmp_path: Path, monkeypatch) -> Path:
    monkeypatch.setenv(ENV_HOME, str(tmp_path / "home"))
    monkeypatch.setenv(ENV_INBOX, str(tmp_path / "inbox"))
    monkeypatch.setenv(ENV_NOW, NOW)
    monkeypatch.delenv(enrichment.ENV_DECLARATIONS, raising=False)
    return HomePaths(tmp_path / "home").ensure().home


def _declare(home: Path, command: list[str], timeout_s: float = 20) -> None:
    (home / enrichment.FILE_NAME).write_text(
        f'[servers.facts]\ncommand = {orjson.dumps(command).decode()}\ntool = "company_facts"\n'
        f"timeout_s = {timeout_s}\n"
    )


def _publish(instance: dg.DagsterInstance, asset: str = "serving_snapshot") -> None:
    instance.report_runless_asset_event(dg.AssetMaterialization(asset))


def _tick(instance: dg.DagsterInstance, cursor: str | None = None):
    return enrichment_sensor(dg.build_sensor_context(instance=instance, cursor=cursor))


def test_nothing_declared_means_no_enrichment_run_even_after_a_publish(home):
    with dg.instance_for_test() as instance:
        _publish(instance)
        assert isinstance(_tick(instance), dg.SkipReason)


def test_each_publish_is_followed_by_one_enrichment_run_keyed_by_that_publish(home):
    _declare(home, ["true"])
    with dg.instance_for_test() as instance:
        _publish(instance)
        first = _tick(instance).run_requests
        assert len(first) == 1 and first[0].tags["workstream/trigger"] == "snapshot"
        assert _tick(instance).run_requests[0].run_key == first[0].run_key  # Dagster dedupes the key
        _publish(instance, "mcp_enrichment")  # the run enriched after that publish
        assert not _tick(instance).run_requests
        _publish(instance)
        second = _tick(instance).run_requests
        assert len(second) == 1 and second[0].run_key != first[0].run_key


def test_an_enrichment_run_already_going_means_no_second_one(home):
    _declare(home, ["true"])
    with dg.instance_for_test() as instance:
        _publish(instance)
        instance.create_run_for_job(
            defs.resolve_job_def(enrichment_job.name), status=dg.DagsterRunStatus.STARTED
        )
        assert isinstance(_tick(instance), dg.SkipReason)


def test_a_failed_call_is_retried_by_a_run_once_its_backoff_is_over(home, monkeypatch):
    _declare(home, ["true"])
    now = parse_timestamp(NOW)
    target = {"org_id": "acme", "event_id": "e1", "entity_type": "signal", "entity_id": "sig-1"}
    target |= {"occurred_at": NOW, "domain": "coho.example", "client_id": "cli-1"}
    enrichment.enqueue(home, OPT, [target], now)
    store = enrichment.store_path(home, "acme")
    claim = outbox.claim(store, now=now, limit=1, worker="enrichment")
    outbox.fail(store, claim.token, claim.keys[0], "timeout: slow", now)  # due again a minute later
    with dg.instance_for_test() as instance:
        waiting = _tick(instance)
        assert not waiting.run_requests
        # Looked at a minute later: due, one run.
        monkeypatch.setenv(ENV_NOW, (now + timedelta(minutes=1)).isoformat())
        due = _tick(instance, waiting.cursor)
        assert [r.tags["workstream/due"] for r in due.run_requests] == ["1"]
        # The next tick does not look again within the minute.
        assert isinstance(_tick(instance, due.cursor), dg.SkipReason)


# --- a tick's run, as the daemon executes it -------------------------------------------------------------


def _signal(event_id: str, signal_id: str, at: str, domain: str) -> dict:
    payload = {"source_type": "email", "company_domain": domain}
    return event(event_id, event_name="signal.created", entity_id=signal_id, occurred_at=at, payload=payload)


@pytest.fixture(scope="module")
def published(tmp_path_factory) -> Path:
    """A home whose snapshot holds an org that opted in and one new signal with a domain, built by a
    run with no server declared yet (so nothing was called)."""
    root = tmp_path_factory.mktemp("enrich-serve")
    inbox, home = root / "inbox", root / "home"
    inbox.mkdir()
    opt_in = event(
        "cfg",
        event_name="config.changed",
        entity_type="org",
        entity_id="acme",
        occurred_at="2026-11-20T00:00:00+00:00",
        payload={"key": "enrichment", "value": {"server": "facts"}},
    )
    write_jsonl(
        inbox / "a.jsonl", [opt_in, _signal("s-new", "sig-1", "2026-11-21T10:00:00+00:00", "coho.example")]
    )
    age(inbox)
    run_pipeline(home, inbox, now=NOW, tests=False)
    return root


def _facts(root: Path, *extra: str) -> list[str]:
    facts = root / "facts.csv"
    facts.write_text("domain,name,industry\ncoho.example,Coho Mining,mining\n")
    return [sys.executable, "-m", "dagster_project.mcp.enrich_server", "--csv", str(facts), *extra]


def _odd(mode: str) -> list[str]:
    return [sys.executable, str(MCP_TESTS / "odd_server.py"), "--mode", mode]


@pytest.mark.integration
@pytest.mark.parametrize(
    ("server", "timeout_s", "outcome"),
    [
        (_facts, 20, "ok"),
        (lambda root: _facts(root, "--delay", "30"), 1, "timeout"),
        (lambda root: _odd("malformed"), 20, "malformed"),
        (lambda root: _odd("crash"), 20, "error"),
    ],
    ids=["success", "slow", "malformed", "crash"],
)
def test_a_tick_after_a_publish_runs_the_enrichment_job_whose_answer_the_next_drop_picks_up(
    published, tmp_path, monkeypatch, server, timeout_s, outcome
):
    root = tmp_path / "copy"
    shutil.copytree(published, root)  # each server gets the same untouched home
    home, inbox = root / "home", root / "inbox"
    monkeypatch.setenv(ENV_HOME, str(home))
    monkeypatch.setenv(ENV_INBOX, str(inbox))
    monkeypatch.setenv(ENV_NOW, NOW)
    monkeypatch.delenv(enrichment.ENV_DECLARATIONS, raising=False)
    _declare(home, server(root), timeout_s)
    paths = HomePaths(home)
    with dg.DagsterInstance.local_temp(tempdir=str(paths.dagster_home)) as instance:
        [request] = _tick(instance).run_requests
        # What the daemon does with the request: the job, its resources from the environment.
        result = defs.resolve_job_def(enrichment_job.name).execute_in_process(
            instance=instance, tags=request.tags
        )
        assert result.success  # whatever the server did, the run succeeds
        [materialization] = result.asset_materializations_for_node("mcp_enrichment")
        assert materialization.metadata["outcomes"].value == {outcome: 1}
        assert not _tick(instance).run_requests  # this publish is enriched, no call due yet
    calls = enrichment.calls(home, "acme")
    assert [(c["event_id"], orjson.loads(c["sent"]), c["outcome"]) for c in calls] == [
        ("s-new", {"domain": "coho.example"}, outcome)
    ]
    written = sorted((inbox / "enrichment").glob("*.jsonl")) if outcome == "ok" else []
    if outcome == "ok":
        [line] = written[0].read_bytes().splitlines()
        assert orjson.loads(line)["payload"] == {
            "name": "Coho Mining",
            "industry": "mining",
            "domain": "coho.example",
        }
        age(inbox / "enrichment")
        [drop] = inbox_files_sensor(dg.build_sensor_context()).run_requests
        assert drop.tags["workstream/files"] == written[0].name  # the next drop's run ingests the answer
    else:
        assert not (inbox / "enrichment").exists()
