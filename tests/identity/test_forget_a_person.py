"""`contact.erased` forgets a person: their name, email and phone, and free text naming them, are found
nowhere under the home after a run (the same scan as a memory redaction), the contact leaves the
`contacts` mart, and the audit keeps only hashes. A record of the person dated before the erasure that
arrives in a later run is forgotten on arrival. The same holds when a governor asks on the Contacts page."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from dagster_project import access
from dagster_project.access.store import ENV_CHEAP_HASHES
from dagster_project.settings import ENV_NOW, default_clock
from streamlit_app.lib import auth
from tests.erasure_scan import hits_per_group
from tests.events_factory import event, write_jsonl
from tests.integration.memory_events import AS_OF, NOW, ORG, age, org_event
from tests.shared_homes import run_in_memory

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
    run_in_memory(home, inbox, as_of=AS_OF, now=NOW, tests=False)


def _query(home: Path, sql: str, params: list | None = None) -> list[tuple]:
    con = duckdb.connect(str(home / "serving.duckdb"), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def _forget_on_the_page(monkeypatch, home, inbox, people: list[tuple[str, str]]) -> None:
    """A governor of ORG asks, on the Contacts page, to forget each `(person, name)` (confirming it names
    `name`), at a time the next run accepts; each request lands in the inbox as a governance file."""
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
    for asked, (person, name) in enumerate(people, start=1):
        app.selectbox(key="contacts_person").set_value(person).run()
        app.button(key="contacts_forget").click().run()
        assert name in " ".join(m.value for m in app.markdown)  # the confirmation names the person
        app.button(key="contacts_forget_yes").click().run()
        assert not app.exception, [e.value for e in app.exception]
        assert len(list(inbox.glob("governance-*.jsonl"))) == asked
    st.cache_data.clear()


# The three people below share one home: each has their own name, email, phone and ids, so the
# identity step cannot take one for another, and all three are forgotten by the end (only "Bo Keep",
# whom nobody forgets, stays a contact). A pipeline run is the suite's dearest step, and every case
# needs the same two runs (before and after the erasure), so one pair serves them all; what a case
# checks between the runs is recorded in `Forgotten.first`. A scan of the home reads every file
# whatever it looks for, so each run's home is scanned once for every case's secrets
# (`hits_per_group`), the second time into `Forgotten.after`.
AT = "2026-11-2{}T10:00:00+00:00".format


@dataclass
class Forgotten:
    home: Path
    tag: str
    first: dict[str, Any]
    after: dict[str, list[str]]

    def person(self, who: str) -> tuple[str, str, str]:
        """Name, email and phone of `who` (zed: erased by an event; yve, uma: on the page)."""
        tag = self.tag
        return {
            "zed": (f"Zed Qx{tag}", f"zed.qx{tag}@example.org", "+1 415 555 0199"),
            "yve": (f"Yve Rk{tag}", f"yve.rk{tag}@example.org", "+1 415 555 0142"),
            "uma": (f"Uma Sg{tag}", f"uma.sg{tag}@example.org", "+1 415 555 0177"),
        }[who]


def _plant_erased_by_event(inbox: Path, name: str, email: str, phone: str) -> None:
    signal = org_event(
        "zed-s1-new",
        "signal.created",
        "signal",
        "zed-s1",
        AT(0),
        source_type="email",
        contact_name=name.upper(),
        contact_email=f" {email.title()} ",
        contact_phone=phone,
        snippet=f"Hello, {name} here about the fleet renewal",
    )
    events = [
        event(
            "zed-k1",
            org_id=ORG,
            event_name="client.updated",
            entity_type="client",
            entity_id="cl1",
            occurred_at=AT(0),
            payload={"name": "Example Org", "domain": "example.org"},
        ),
        _contact("zed-c1", "ct-zed", AT(0), name=name, email=email, phone=phone, client_id="cl1"),
        signal,
        org_event(
            "zed-n1", "signal.note_added", "signal", "zed-s1", AT(1), text=f"Called {name} back on {phone}"
        ),
        org_event("zed-x1", "contact.erased", "contact", "ct-zed", AT(3), reason="the person asked"),
    ]
    # The signal again with other content: a conflicting duplicate, quarantined with its raw text.
    conflicting = dict(signal, payload={**signal["payload"], "snippet": f"{name} again"})
    write_jsonl(inbox / "zed-a.jsonl", [*events, conflicting])


def _late_signal(inbox: Path, email: str, tag: str) -> None:
    """A signal from the erased person, dated before the erasure, arriving in a later run."""
    late = org_event(
        "zed-s2-new",
        "signal.created",
        "signal",
        "zed-s2",
        AT(2),
        source_type="web",
        contact_email=email.upper(),
        contact_name="Z. Qx" + tag,
    )
    write_jsonl(inbox / "zed-b.jsonl", [late])


def _plant_contact(inbox: Path, name: str, email: str, phone: str) -> None:
    write_jsonl(
        inbox / "yve-a.jsonl",
        [
            _contact("yve-c1", "ct-yve", AT(0), name=name, email=email, phone=phone),
            org_event(
                "yve-s1-new",
                "signal.created",
                "signal",
                "yve-s1",
                AT(1),
                source_type="email",
                contact_email=email.upper(),
                snippet=f"Hello, {name} here",
            ),
            org_event(
                "yve-n1", "signal.note_added", "signal", "yve-s1", AT(2), text=f"Called {name} on {phone}"
            ),
        ],
    )


def _plant_signals_only(inbox: Path, name: str, email: str, phone: str) -> None:
    write_jsonl(
        inbox / "uma-a.jsonl",
        [
            # Two signals from one sender and no contact record: a person only signals name.
            org_event(
                "uma-s1-new",
                "signal.created",
                "signal",
                "uma-s1",
                AT(0),
                source_type="email",
                contact_name=name,
                contact_email=email,
                contact_phone=phone,
                snippet=f"Hello, {name} here",
            ),
            org_event(
                "uma-s3-new",
                "signal.created",
                "signal",
                "uma-s3",
                AT(1),
                source_type="web",
                contact_email=email.upper(),
                contact_phone=phone,
            ),
            org_event(
                "uma-n1", "signal.note_added", "signal", "uma-s3", AT(2), text=f"Called {name} on {phone}"
            ),
        ],
    )


@pytest.fixture(scope="module")
def forgotten(tmp_path_factory) -> Forgotten:
    root = tmp_path_factory.mktemp("forgotten")
    inbox, home = root / "inbox", root / "home"
    inbox.mkdir()
    done = Forgotten(home=home, tag=uuid.uuid4().hex[:12], first={}, after={})
    write_jsonl(
        inbox / "keep.jsonl", [_contact("c2", "ct-2", AT(0), name="Bo Keep", email="bo.keep@example.org")]
    )
    _plant_erased_by_event(inbox, *done.person("zed"))
    _plant_contact(inbox, *done.person("yve"))
    _plant_signals_only(inbox, *done.person("uma"))
    _run(home, inbox)

    zed_name, zed_email, _ = done.person("zed")
    hits = hits_per_group(
        home,
        {
            "zed": [zed_name, zed_name.upper(), zed_email, f"qx{done.tag}"],
            "yve": [done.person("yve")[0]],
            "uma": list(done.person("uma")),
        },
    )
    done.first["zed_hits"] = hits["zed"]
    done.first["zed_contacts"] = _query(
        home, "select contact_id from marts.contacts where org_id = ? and contact_id = 'ct-zed'", [ORG]
    )
    done.first["zed_audit"] = _query(
        home,
        "select audit_id, contact_id, value_hashes from marts.contact_erasures where org_id = ? "
        "and contact_id = 'ct-zed'",
        [ORG],
    )
    done.first["yve_hits"] = hits["yve"]
    done.first["uma_people"] = _query(
        home, "select contact_id, records from marts.contacts where org_id = ? order by 1", [ORG]
    )
    done.first["uma_hits"] = hits["uma"]

    # The governor's requests through the page, at a time the next run accepts.
    with pytest.MonkeyPatch.context() as monkeypatch:
        _forget_on_the_page(
            monkeypatch,
            home,
            inbox,
            [("ct-yve", done.person("yve")[0]), ("signal:uma-s1", done.person("uma")[0])],
        )
    _late_signal(inbox, zed_email, done.tag)
    _run(home, inbox)

    tag = done.tag
    yve_name, yve_email, _ = done.person("yve")
    uma_name, uma_email, uma_phone = done.person("uma")
    done.after.update(
        hits_per_group(
            home,
            {
                "zed": [zed_email, zed_email.upper(), f"qx{tag}"],
                "yve": [yve_name, yve_name.upper(), yve_email, yve_email.upper(), f"rk{tag}"],
                "uma": [uma_name, uma_email, uma_email.upper(), uma_phone, f"sg{tag}"],
            },
        )
    )
    return done


def test_an_erased_person_is_found_nowhere_under_the_home_and_the_audit_keeps_hashes(forgotten):
    name, _, _ = forgotten.person("zed")
    assert forgotten.first["zed_hits"] == []
    assert forgotten.first["zed_contacts"] == []
    audit = forgotten.first["zed_audit"]
    assert [(a, c) for a, c, _ in audit] == [("zed-x1", "ct-zed")]
    assert hashlib.sha256(name.encode()).hexdigest() in audit[0][2]

    # A signal from the person, dated before the erasure, arrived in the later run.
    assert forgotten.after["zed"] == []


def _contacts(home: Path) -> list[tuple]:
    return _query(home, "select contact_id, name from marts.contacts where org_id = ? order by 1", [ORG])


def test_a_person_a_governor_forgets_on_the_contacts_page_is_found_nowhere_after_the_next_run(forgotten):
    home = forgotten.home
    assert forgotten.first["yve_hits"] != []  # the scan sees the person before

    assert forgotten.after["yve"] == []
    assert _contacts(home) == [("ct-2", "Bo Keep")]
    audit = _query(
        home,
        "select contact_id, actor from marts.contact_erasures where org_id = ? and contact_id = 'ct-yve'",
        [ORG],
    )
    assert audit == [("ct-yve", "gov@acme.test")]


def test_a_person_known_only_from_signals_that_a_governor_forgets_on_the_page_is_found_nowhere(forgotten):
    home = forgotten.home
    assert ("signal:uma-s1", 2) in forgotten.first["uma_people"]
    assert forgotten.first["uma_hits"] != []  # the scan sees the person before

    assert forgotten.after["uma"] == []
    assert _contacts(home) == [("ct-2", "Bo Keep")]
    audit = _query(
        home,
        "select contact_id, actor from marts.contact_erasures where org_id = ? and contact_id = 'signal:uma-s1'",
        [ORG],
    )
    assert audit == [("signal:uma-s1", "gov@acme.test")]
