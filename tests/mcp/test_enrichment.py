"""Enrichment calls through the outbox against the shipped CSV server and misbehaving ones: success,
timeout, malformed answer, crash; every call recorded, failures retried with backoff, none raised."""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import anyio
import orjson
import pytest

from dagster_project.control import outbox
from dagster_project.mcp import enrichment
from dagster_project.mcp.enrich_client import Declared
from dagster_project.mcp.enrichment_targets import domain_of

NOW = datetime(2026, 11, 28, 12, tzinfo=UTC)
HERE = Path(__file__).resolve().parent
OPT = enrichment.OptIn("acme", "facts", {"name": "name", "industry": "industry"}, 30, None)


def _csv(tmp_path: Path) -> Path:
    path = tmp_path / "facts.csv"
    path.write_text("domain,name,industry\ncoho.example,Coho Mining,mining\n")
    return path


def _facts_server(tmp_path: Path, *extra: str, timeout_s: float = 20) -> Declared:
    command = (
        sys.executable,
        "-m",
        "dagster_project.mcp.enrich_server",
        "--csv",
        str(_csv(tmp_path)),
        *extra,
    )
    return Declared("facts", "company_facts", command, None, timeout_s)


def _odd_server(mode: str) -> Declared:
    return Declared(
        "facts", "company_facts", (sys.executable, str(HERE / "odd_server.py"), "--mode", mode), None, 20
    )


def _queue(home: Path, *domains: str) -> None:
    signals = [
        {
            "org_id": "acme",
            "event_id": f"e{i}",
            "entity_type": "signal",
            "entity_id": f"sig-{i}",
            "occurred_at": "2026-11-27T10:00:00.000000Z",
            "domain": domain,
            "client_id": f"cli-{i}",
        }
        for i, domain in enumerate(domains)
    ]
    enrichment.enqueue(home, OPT, signals, NOW)


def _drain(home: Path, server: Declared, *, budget_s: float = 60) -> enrichment.Summary:
    summary = enrichment.Summary()
    deadline = time.monotonic() + budget_s
    anyio.run(lambda: enrichment.drain_org(home, home / "inbox", OPT, server, NOW, deadline, summary))
    return summary


def _items(home: Path) -> list[tuple]:
    with outbox.connect(enrichment.store_path(home, "acme")) as con:
        return con.execute(
            "select event_id, status, attempts, next_attempt_at, last_error from outbox_items order by event_id"
        ).fetchall()


def _written(home: Path) -> list[dict]:
    folder = home / "inbox" / "enrichment"
    return [
        orjson.loads(line) for f in sorted(folder.glob("*.jsonl")) for line in f.read_bytes().splitlines()
    ]


def test_a_known_domain_becomes_a_client_updated_event_in_the_inbox_and_the_call_is_recorded(tmp_path):
    _queue(tmp_path, "coho.example", "nobody.example")
    summary = _drain(tmp_path, _facts_server(tmp_path))
    assert summary.outcomes == {"ok": 1, "refused": 1}
    [event] = _written(tmp_path)
    assert event["event_name"] == "client.updated" and event["entity_id"] == "cli-0"
    assert event["payload"] == {"name": "Coho Mining", "industry": "mining", "domain": "coho.example"}
    calls = enrichment.calls(tmp_path, "acme")
    assert [(c["event_id"], orjson.loads(c["sent"]), c["outcome"]) for c in calls] == [
        ("e0", {"domain": "coho.example"}, "ok"),
        ("e1", {"domain": "nobody.example"}, "refused"),
    ]
    assert calls[0]["result_event_id"] == event["event_id"]
    assert [(i[0], i[1]) for i in _items(tmp_path)] == [("e0", "processed"), ("e1", "processed")]


def test_a_replayed_call_gives_the_same_event_id_so_the_inbox_sees_a_duplicate_not_a_second_update(tmp_path):
    _queue(tmp_path, "coho.example")
    _drain(tmp_path, _facts_server(tmp_path))
    before = _written(tmp_path)
    with outbox.connect(enrichment.store_path(tmp_path, "acme")) as con:
        con.execute(
            "update outbox_items set status = 'pending', next_attempt_at = '2000-01-01T00:00:00.000000Z'"
        )
    _drain(tmp_path, _facts_server(tmp_path))
    assert len(enrichment.calls(tmp_path, "acme")) == 2
    assert _written(tmp_path) == before


@pytest.mark.parametrize(
    ("server", "outcome"),
    [
        (lambda tmp: _facts_server(tmp, "--delay", "30", timeout_s=1), "timeout"),
        (lambda tmp: _odd_server("malformed"), "malformed"),
        (lambda tmp: _odd_server("crash"), "error"),
    ],
    ids=["slow", "malformed", "crash"],
)
def test_a_failing_server_fails_the_item_with_backoff_records_the_call_and_writes_nothing(
    tmp_path, server, outcome
):
    _queue(tmp_path, "coho.example")
    summary = _drain(tmp_path, server(tmp_path))
    assert summary.outcomes == {outcome: 1}
    [(event_id, status, attempts, due, error)] = _items(tmp_path)
    assert (event_id, status, attempts) == ("e0", "pending", 1)
    assert due == outbox.to_text(NOW.replace(minute=1))  # the outbox's first backoff: one minute
    assert error.startswith(f"{outcome}: ")
    assert [c["outcome"] for c in enrichment.calls(tmp_path, "acme")] == [outcome]
    assert not (tmp_path / "inbox" / "enrichment").exists()


def test_a_crash_is_followed_by_a_fresh_session_for_the_next_item(tmp_path):
    _queue(tmp_path, "coho.example", "coho.example")
    summary = _drain(tmp_path, _odd_server("crash"))
    assert summary.outcomes == {"error": 2}


def test_an_exhausted_time_budget_leaves_the_items_queued_without_calling(tmp_path):
    _queue(tmp_path, "coho.example")
    summary = _drain(tmp_path, _facts_server(tmp_path), budget_s=0)
    assert summary.calls == 0
    assert [(i[0], i[1], i[2]) for i in _items(tmp_path)] == [("e0", "pending", 0)]


def test_an_orgs_rate_limit_caps_the_calls_of_a_minute(tmp_path):
    _queue(tmp_path, "coho.example", "coho.example", "coho.example")
    limited = enrichment.OptIn("acme", "facts", OPT.fields, 2, None)
    summary = enrichment.Summary()
    anyio.run(
        lambda: enrichment.drain_org(
            tmp_path,
            tmp_path / "inbox",
            limited,
            _facts_server(tmp_path),
            NOW,
            time.monotonic() + 60,
            summary,
        )
    )
    assert summary.calls == 2
    assert [i[1] for i in _items(tmp_path)] == ["processed", "processed", "pending"]


def test_a_signals_domain_comes_from_the_company_domain_or_else_the_contact_email():
    assert domain_of({"company_domain": "WWW.Coho.Example "}) == "coho.example"
    assert domain_of({"contact_email": "ann@coho.example"}) == "coho.example"
    assert domain_of({"company_domain": "not a domain; rm -rf", "contact_email": "x"}) is None
    assert domain_of({}) is None


def test_the_run_summary_counts_the_calls_by_outcome_and_the_events_they_gave():
    from dagster_project.commands.run import enrichment_line

    summary = enrichment.Summary()
    for outcome in ("ok", "ok", "timeout"):
        summary.count(outcome)
    summary.events_written = 2
    assert enrichment_line(vars(summary)) == "3 (2 ok, 1 timeout); 2 events to the inbox"
