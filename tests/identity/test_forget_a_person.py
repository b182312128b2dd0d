"""`contact.erased` forgets a person: their name, email and phone, and free text naming them, are found
nowhere under the home after a run (the same scan as a memory redaction), the contact leaves the
`contacts` mart, and the audit keeps only hashes. A record of the person dated before the erasure that
arrives in a later run is forgotten on arrival. The same holds when a governor asks on the Contacts page."""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path

import duckdb
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from dagster_project import access
from dagster_project.access.store import ENV_CHEAP_HASHES
from dagster_project.commands.run import run_pipeline
from dagster_project.settings import ENV_NOW, default_clock
from streamlit_app.lib import auth
from tests.erasure_scan import hits_everywhere
from tests.events_factory import event, write_jsonl
from tests.integration.memory_events import AS_OF, NOW, ORG, age, org_event

pytestmark = pytest.mark.integration
APP = Path(__file__).resolve().parents[2] / "streamlit_app" / "app.py"


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


def _forget_on_the_page(monkeypatch, home, inbox, person: str, name: str) -> None:
    """A governor of ORG asks, on the Contacts page, to forget `person` (confirming it names `name`), at
    a time the next run accepts; the request lands in the inbox as a governance file."""
    monkeypatch.setenv("WORKSTREAM_HOME", str(home))
    monkeypatch.setenv("WORKSTREAM_INBOX", str(inbox))
    monkeypatch.setenv(ENV_NOW, "2026-11-27T09:00:00+00:00")
    monkeypatch.setenv(ENV_CHEAP_HASHES, "1")
    st.cache_data.clear()
    governor, _, _ = access.add_user(home, "gov@acme.test", "governor", (ORG,), now=default_clock().now())
    app = AppTest.from_file(str(APP), default_timeout=60)
    app.session_state[auth.SESSION_KEY] = access.start_session(home, governor, now=default_clock().now())
    app.query_params["org"] = ORG
    app.run()
    app.switch_page("app_pages/contacts.py").run()
    app.selectbox(key="contacts_person").set_value(person).run()
    app.button(key="contacts_forget").click().run()
    assert name in " ".join(m.value for m in app.markdown)  # the confirmation names the person
    app.button(key="contacts_forget_yes").click().run()
    assert not app.exception, [e.value for e in app.exception]
    assert [p.name for p in inbox.glob("governance-*.jsonl")]
    st.cache_data.clear()


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


def test_a_person_a_governor_forgets_on_the_contacts_page_is_found_nowhere_after_the_next_run(
    tmp_path, monkeypatch
):
    tag = uuid.uuid4().hex[:12]
    name, email, phone = f"Yve Rk{tag}", f"yve.rk{tag}@example.org", "+1 415 555 0142"
    inbox, home = tmp_path / "inbox", tmp_path / "home"
    inbox.mkdir()
    at = "2026-11-2{}T10:00:00+00:00".format
    write_jsonl(
        inbox / "a.jsonl",
        [
            _contact("c1", "ct-1", at(0), name=name, email=email, phone=phone),
            _contact("c2", "ct-2", at(0), name="Bo Keep", email="bo.keep@example.org"),
            org_event(
                "s1-new",
                "signal.created",
                "signal",
                "s1",
                at(1),
                source_type="email",
                contact_email=email.upper(),
                snippet=f"Hello, {name} here",
            ),
            org_event("n1", "signal.note_added", "signal", "s1", at(2), text=f"Called {name} on {phone}"),
        ],
    )
    _run(home, inbox)
    assert hits_everywhere(home, [name]) != []  # the scan sees the person before

    # The governor's request through the page, at a time the next run accepts.
    _forget_on_the_page(monkeypatch, home, inbox, "ct-1", name)

    _run(home, inbox)
    assert hits_everywhere(home, [name, name.upper(), email, email.upper(), f"rk{tag}"]) == []
    contacts = _query(home, "select contact_id, name from marts.contacts where org_id = ? order by 1", [ORG])
    assert contacts == [("ct-2", "Bo Keep")]
    (audit,) = _query(home, "select contact_id, actor from marts.contact_erasures where org_id = ?", [ORG])
    assert audit == ("ct-1", "gov@acme.test")


def test_a_person_known_only_from_signals_that_a_governor_forgets_on_the_page_is_found_nowhere(
    tmp_path, monkeypatch
):
    tag = uuid.uuid4().hex[:12]
    name, email, phone = f"Uma Sg{tag}", f"uma.sg{tag}@example.org", "+1 415 555 0177"
    inbox, home = tmp_path / "inbox", tmp_path / "home"
    inbox.mkdir()
    at = "2026-11-2{}T10:00:00+00:00".format
    write_jsonl(
        inbox / "a.jsonl",
        [
            _contact("c2", "ct-2", at(0), name="Bo Keep", email="bo.keep@example.org"),
            # Two signals from one sender and no contact record: a person only signals name.
            org_event(
                "s1-new",
                "signal.created",
                "signal",
                "s1",
                at(0),
                source_type="email",
                contact_name=name,
                contact_email=email,
                contact_phone=phone,
                snippet=f"Hello, {name} here",
            ),
            org_event(
                "s3-new",
                "signal.created",
                "signal",
                "s3",
                at(1),
                source_type="web",
                contact_email=email.upper(),
                contact_phone=phone,
            ),
            org_event("n1", "signal.note_added", "signal", "s3", at(2), text=f"Called {name} on {phone}"),
        ],
    )
    _run(home, inbox)
    people = _query(home, "select contact_id, records from marts.contacts where org_id = ? order by 1", [ORG])
    assert ("signal:s1", 2) in people
    assert hits_everywhere(home, [name, email, phone]) != []  # the scan sees the person before

    _forget_on_the_page(monkeypatch, home, inbox, "signal:s1", name)

    _run(home, inbox)
    assert hits_everywhere(home, [name, email, email.upper(), phone, f"sg{tag}"]) == []
    contacts = _query(home, "select contact_id, name from marts.contacts where org_id = ? order by 1", [ORG])
    assert contacts == [("ct-2", "Bo Keep")]
    (audit,) = _query(home, "select contact_id, actor from marts.contact_erasures where org_id = ?", [ORG])
    assert audit == ("signal:s1", "gov@acme.test")
