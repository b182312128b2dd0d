"""Enrichment of new contacts: which contacts are sent (only their domain), and the contract events an
answer gives: `client.updated` for the company, `contact.updated` filling only what the source left empty."""

from __future__ import annotations

import sqlite3
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import anyio
import duckdb
import orjson

from dagster_project.contract.events import ENVELOPE_FIELDS, EVENTS
from dagster_project.mcp import enrichment
from dagster_project.mcp.enrich_client import Declared
from dagster_project.mcp.enrichment_targets import contact_targets

NOW = datetime(2026, 11, 28, 12, tzinfo=UTC)
SINCE = datetime(2026, 11, 20, tzinfo=UTC)
OPT = enrichment.OptIn("acme", "facts", {"name": "name", "industry": "industry"}, 30, SINCE)


def _snapshot(*events: tuple) -> duckdb.DuckDBPyConnection:
    """The two marts the targets are read from, with these events: (org, id, name, contact, at, payload)."""
    con = duckdb.connect()
    con.execute("create schema marts")
    con.execute(
        "create table marts.events (org_id varchar, event_id varchar, event_name varchar, entity_type varchar,"
        " entity_id varchar, occurred_at timestamptz, payload varchar)"
    )
    con.execute("create table marts.clients (org_id varchar, client_id varchar, domain varchar)")
    con.execute("insert into marts.clients values ('acme', 'cli-7', 'Known.Example')")
    for org, event_id, name, contact, at, payload in events:
        con.execute(
            "insert into marts.events values (?, ?, ?, 'contact', ?, ?, ?)",
            [org, event_id, name, contact, at, orjson.dumps(payload).decode()],
        )
    return con


def test_a_contact_first_seen_after_the_opt_in_with_an_email_is_a_target_with_its_empty_company_fields():
    con = _snapshot(
        ("acme", "c1", "contact.updated", "ct-1", "2026-11-21T10:00:00Z", {"name": "Bob"}),
        ("acme", "c2", "contact.updated", "ct-1", "2026-11-22T10:00:00Z", {"email": "bob@Coho.example"}),
        ("acme", "c3", "contact.linked", "ct-1", "2026-11-23T10:00:00Z", {"client_id": "cli-9"}),
    )
    [target] = contact_targets(con, "acme", SINCE)
    assert (target["event_id"], target["entity_type"], target["entity_id"]) == ("c2", "contact", "ct-1")
    assert (target["domain"], target["client_id"]) == ("coho.example", "cli-coho.example")
    assert target["gaps"] == ["company_name", "company_domain"]  # its link gave the client


def test_a_known_domain_names_the_orgs_own_client():
    con = _snapshot(
        ("acme", "c1", "contact.updated", "ct-1", "2026-11-21T10:00:00Z", {"company_domain": "known.example"})
    )
    [target] = contact_targets(con, "acme", SINCE)
    assert target["client_id"] == "cli-7"


def test_contacts_known_before_the_opt_in_erased_without_a_domain_or_of_another_org_are_not_targets():
    con = _snapshot(
        ("acme", "c1", "contact.updated", "ct-old", "2026-11-19T10:00:00Z", {"name": "Old"}),
        ("acme", "c2", "contact.updated", "ct-old", "2026-11-21T10:00:00Z", {"email": "old@coho.example"}),
        ("acme", "c3", "contact.updated", "ct-gone", "2026-11-21T10:00:00Z", {"email": "gone@coho.example"}),
        ("acme", "c4", "contact.erased", "ct-gone", "2026-11-22T10:00:00Z", {}),
        ("acme", "c5", "contact.updated", "ct-none", "2026-11-21T10:00:00Z", {"email": "not an email"}),
        ("globex", "g1", "contact.updated", "ct-g", "2026-11-21T10:00:00Z", {"email": "gus@coho.example"}),
    )
    assert contact_targets(con, "acme", SINCE) == []


def _facts_server(tmp_path: Path) -> Declared:
    facts = tmp_path / "facts.csv"
    facts.write_text("domain,name,industry\ncoho.example,Coho Mining,mining\n")
    command = (sys.executable, "-m", "dagster_project.mcp.enrich_server", "--csv", str(facts))
    return Declared("facts", "company_facts", command, None, 20)


def _drain(home: Path, targets: list[dict]) -> list[dict]:
    enrichment.enqueue(home, OPT, targets, NOW)
    summary = enrichment.Summary()
    deadline = time.monotonic() + 60
    anyio.run(
        lambda: enrichment.drain_org(home, home / "inbox", OPT, _facts_server(home), NOW, deadline, summary)
    )
    assert summary.outcomes == {"ok": len(targets)}
    files = sorted((home / "inbox" / "enrichment").glob("*.jsonl"))
    return [orjson.loads(line) for f in files for line in f.read_bytes().splitlines()]


def _contact(event_id: str, gaps: list[str]) -> dict:
    return {
        "org_id": "acme",
        "event_id": event_id,
        "entity_type": "contact",
        "entity_id": f"ct-{event_id}",
        "occurred_at": "2026-11-21T10:00:00.000000Z",
        "domain": "coho.example",
        "client_id": "cli-coho.example",
        "gaps": gaps,
    }


def _in_contract(event: dict) -> bool:
    spec = EVENTS[event["event_name"]]
    payload = event["payload"]
    return (
        set(event) == set(ENVELOPE_FIELDS)
        and event["entity_type"] in spec.entity_types
        and set(payload) <= set(spec.fields)
        and all(spec.fields[k].kind == "str" and isinstance(v, str) for k, v in payload.items())
    )


def test_an_answer_about_a_contact_updates_its_company_and_fills_only_its_empty_company_fields(tmp_path):
    events = _drain(tmp_path, [_contact("c1", ["company_name", "client_id"]), _contact("c2", [])])
    assert [(e["event_name"], e["entity_id"]) for e in events] == [
        ("client.updated", "cli-coho.example"),
        ("contact.updated", "ct-c1"),
        ("client.updated", "cli-coho.example"),  # c2's source gave every company field: nothing to fill
    ]
    assert events[1]["payload"] == {"company_name": "Coho Mining", "client_id": "cli-coho.example"}
    assert events[0]["payload"] == {"name": "Coho Mining", "industry": "mining", "domain": "coho.example"}
    assert all(_in_contract(e) for e in events)
    calls = enrichment.calls(tmp_path, "acme")
    assert [(c["event_id"], orjson.loads(c["sent"])) for c in calls] == [
        ("c1", {"domain": "coho.example"}),
        ("c2", {"domain": "coho.example"}),
    ]  # only the domain left, never the person's name or email
    assert [c["result_event_id"].split() for c in calls] == [
        [events[0]["event_id"], events[1]["event_id"]],
        [events[2]["event_id"]],
    ]


def test_a_store_made_before_contacts_were_enriched_is_brought_up_to_date(tmp_path):
    path = enrichment.store_path(tmp_path, "acme")
    path.parent.mkdir(parents=True)
    with sqlite3.connect(path) as con:
        con.execute(
            "create table enrichment_targets (org_id text not null, event_id text not null, signal_id text not null,"
            " domain text not null, client_id text not null, primary key (org_id, event_id))"
        )
        con.execute("insert into enrichment_targets values ('acme', 'e0', 'sig-0', 'coho.example', 'cli-0')")
    events = _drain(tmp_path, [_contact("c1", ["company_name"])])
    assert [e["event_name"] for e in events] == ["client.updated", "contact.updated"]
    with sqlite3.connect(path) as con:
        rows = con.execute("select event_id, entity_id, gaps from enrichment_targets order by 1").fetchall()
    assert rows == [("c1", "ct-c1", '["company_name"]'), ("e0", "sig-0", None)]
