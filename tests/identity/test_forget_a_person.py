"""`contact.erased` forgets a person: their name, email and phone, and free text naming them, are found
nowhere under the home after a run (the same scan as a memory redaction), the contact leaves the
`contacts` mart, and the audit keeps only hashes. A record of the person dated before the erasure that
arrives in a later run is forgotten on arrival."""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path

import duckdb
import pytest

from dagster_project.commands.run import run_pipeline
from tests.erasure_scan import hits_everywhere
from tests.events_factory import event, write_jsonl
from tests.integration.memory_events import AS_OF, NOW, ORG, age, org_event

pytestmark = pytest.mark.integration


def _contact(event_id: str, contact_id: str, at: str, **payload) -> dict:
    """A contact event (its payload has a `name`, which `org_event`'s own parameter would take)."""
    return event(
        event_id,
        org_id=ORG,
        event_name="contact.updated",
        entity_type="contact",
        entity_id=contact_id,
        occurred_at=at,
        payload=payload,
    )


def _run(home: Path, inbox: Path) -> None:
    age(inbox)
    run_pipeline(home, inbox, as_of=AS_OF, now=NOW, tests=False)


def _query(home: Path, sql: str, params: list | None = None) -> list[tuple]:
    con = duckdb.connect(str(home / "serving.duckdb"), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def test_an_erased_person_is_found_nowhere_under_the_home_and_the_audit_keeps_hashes(tmp_path):
    tag = uuid.uuid4().hex[:12]
    name, email, phone = f"Zed Qx{tag}", f"zed.qx{tag}@example.org", "+1 415 555 0199"
    inbox, home = tmp_path / "inbox", tmp_path / "home"
    inbox.mkdir()
    at = "2026-11-2{}T10:00:00+00:00".format
    signal = org_event(
        "s1-new",
        "signal.created",
        "signal",
        "s1",
        at(0),
        source_type="email",
        contact_name=name.upper(),
        contact_email=f" {email.title()} ",
        contact_phone=phone,
        snippet=f"Hello, {name} here about the fleet renewal",
    )
    events = [
        event(
            "k1",
            org_id=ORG,
            event_name="client.updated",
            entity_type="client",
            entity_id="cl1",
            occurred_at=at(0),
            payload={"name": "Example Org", "domain": "example.org"},
        ),
        _contact(
            "c1",
            "ct-1",
            at(0),
            name=name,
            email=email,
            phone=phone,
            client_id="cl1",
        ),
        _contact("c2", "ct-2", at(0), name="Bo Keep", email="bo.keep@example.org"),
        signal,
        org_event("n1", "signal.note_added", "signal", "s1", at(1), text=f"Called {name} back on {phone}"),
        org_event("x1", "contact.erased", "contact", "ct-1", at(3), reason="the person asked"),
    ]
    # The signal again with other content: a conflicting duplicate, quarantined with its raw text.
    conflicting = dict(signal, payload={**signal["payload"], "snippet": f"{name} again"})
    write_jsonl(inbox / "a.jsonl", [*events, conflicting])
    _run(home, inbox)

    secrets = [name, name.upper(), email, f"qx{tag}"]
    assert hits_everywhere(home, secrets) == []
    contacts = _query(home, "select contact_id, name from marts.contacts where org_id = ? order by 1", [ORG])
    assert contacts == [("ct-2", "Bo Keep")]
    audit = _query(
        home, "select audit_id, contact_id, value_hashes from marts.contact_erasures where org_id = ?", [ORG]
    )
    assert [(a, c) for a, c, _ in audit] == [("x1", "ct-1")]
    assert hashlib.sha256(name.encode()).hexdigest() in audit[0][2]

    # A signal from the person, dated before the erasure, arriving in a later run.
    late = org_event(
        "s2-new",
        "signal.created",
        "signal",
        "s2",
        at(2),
        source_type="web",
        contact_email=email.upper(),
        contact_name="Z. Qx" + tag,
    )
    write_jsonl(inbox / "b.jsonl", [late])
    _run(home, inbox)
    assert hits_everywhere(home, [email, email.upper(), f"qx{tag}"]) == []
