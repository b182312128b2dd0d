"""End to end: a run enriches an opted-in org's new signal and new contact through the shipped MCP
server, the answers come back through the inbox as validated `client.updated` and `contact.updated`,
and nothing is sent for other orgs."""

from __future__ import annotations

import sys
from pathlib import Path

import orjson
import pytest

from dagster_project.mcp import enrichment
from dagster_project.serving import reader
from tests.events_factory import event, write_jsonl
from tests.integration.memory_events import NOW, age
from tests.shared_homes import run_in_memory

pytestmark = pytest.mark.integration


def _signal(org: str, event_id: str, signal_id: str, at: str, domain: str) -> dict:
    payload = {"source_type": "email", "company_domain": domain, "contact_email": f"ann@{domain}"}
    return event(
        event_id,
        org_id=org,
        event_name="signal.created",
        entity_type="signal",
        entity_id=signal_id,
        occurred_at=at,
        payload=payload,
    )


def _contact(org: str, event_id: str, contact_id: str, at: str, email: str) -> dict:
    return event(
        event_id,
        org_id=org,
        event_name="contact.updated",
        entity_type="contact",
        entity_id=contact_id,
        occurred_at=at,
        payload={"name": "Bob Brown", "email": email},
    )


def test_a_new_signal_and_contact_of_an_opted_in_org_are_enriched_and_applied_at_the_next_run(tmp_path: Path):
    inbox, home = tmp_path / "inbox", tmp_path / "home"
    inbox.mkdir()
    home.mkdir()
    facts = tmp_path / "facts.csv"
    facts.write_text(
        "domain,name,industry\ncoho.example,Coho Mining,mining\nglobex.example,Globex,chemicals\n"
    )
    command = [sys.executable, "-m", "dagster_project.mcp.enrich_server", "--csv", str(facts)]
    (home / "enrichment.toml").write_text(
        f'[servers.facts]\ncommand = {orjson.dumps(command).decode()}\ntool = "company_facts"\n'
    )
    opt_in = event(
        "cfg",
        org_id="acme",
        event_name="config.changed",
        entity_type="org",
        entity_id="acme",
        occurred_at="2026-11-20T00:00:00+00:00",
        payload={"key": "enrichment", "value": {"server": "facts"}},
    )
    write_jsonl(
        inbox / "a.jsonl",
        [
            opt_in,
            _signal(
                "acme", "s-old", "sig-0", "2026-11-19T10:00:00+00:00", "coho.example"
            ),  # before opting in
            _signal("acme", "s-new", "sig-1", "2026-11-21T10:00:00+00:00", "coho.example"),
            _signal("globex", "g-new", "sig-9", "2026-11-21T10:00:00+00:00", "globex.example"),
            _contact("acme", "c-new", "ct-1", "2026-11-22T10:00:00+00:00", "bob@coho.example"),
            _contact("globex", "gc-new", "ct-9", "2026-11-22T10:00:00+00:00", "gus@globex.example"),
        ],
    )
    age(inbox)

    first = run_in_memory(home, inbox, now=NOW, tests=False)

    assert first["enrichment"]["outcomes"] == {"ok": 2}
    calls = enrichment.calls(home, "acme")
    assert [(c["event_id"], orjson.loads(c["sent"])) for c in calls] == [
        ("s-new", {"domain": "coho.example"}),
        ("c-new", {"domain": "coho.example"}),
    ]
    assert enrichment.calls(home, "globex") == [] and not enrichment.store_path(home, "globex").exists()

    age(inbox / "enrichment")
    run_in_memory(home, inbox, now=NOW, tests=False)

    serving = home / "serving.duckdb"
    clients = reader.fetch(
        serving,
        "select org_id, client_id, name, industry from marts.clients order by 1, 2",
        scope=reader.SYSTEM,
    )
    assert ("acme", "cli-coho.example", "Coho Mining", "mining") in clients.rows()
    assert not any(row[0] == "globex" and row[3] for row in clients.rows())
    applied = reader.fetch(
        serving,
        "select actor from marts.events where event_name = 'client.updated' and org_id = 'acme'",
        scope=reader.SYSTEM,
    )
    assert applied["actor"].to_list() == ["enrichment:facts", "enrichment:facts"]
    contacts = reader.fetch(
        serving,
        "select org_id, email, client_id from marts.contacts order by 1, 2",
        scope=reader.SYSTEM,
    )
    # The contact's source named no company: the enrichment linked it to the company of its domain.
    assert ("acme", "bob@coho.example", "cli-coho.example") in contacts.rows()
    assert ("globex", "gus@globex.example", None) in contacts.rows()
