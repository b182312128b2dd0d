"""The Contacts and Identity pages on a snapshot with resolved people: they render a person's records,
signals, work and memory, show a conflict with its match weights, and a governor's decision becomes a
`contact.merged` / `contact.split` event in the inbox. Only a governor of the org can ask to forget a
person (a `contact.erased` event, audited with ids and hashes only); a forged request writes nothing."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import duckdb
import orjson
import pytest
import streamlit as st
from conftest import add_user, sign_in
from streamlit.testing.v1 import AppTest

from dagster_project import access
from dagster_project.contract.events import EVENTS
from dagster_project.ingestion.readers import file_format, read_batches
from dagster_project.ingestion.validation import validate_batch
from dagster_project.settings import ENV_NOW
from streamlit_app.lib import identity_requests
from tests.snapshot_schema import create_tables, insert_rows, served_models

APP = Path(__file__).resolve().parents[2] / "streamlit_app" / "app.py"
T = dt.datetime(2026, 11, 20, 10, tzinfo=dt.UTC)
ORG, OTHER = "acme", "globex"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("WORKSTREAM_HOME", str(home))
    monkeypatch.setenv("WORKSTREAM_INBOX", str(tmp_path / "inbox"))
    st.cache_data.clear()
    with duckdb.connect(str(home / "serving.duckdb")) as con:
        con.execute("SET TimeZone = 'UTC'")
        create_tables(con, [*served_models(), "snapshot_info"])
        fill = {"built_at": T}
        for org in (ORG, OTHER):
            insert_rows(
                con,
                "event_volume_daily",
                ["org_id", "event_date", "event_name", "entity_type", "events"],
                [(org, T.date(), "contact.updated", "contact", 3)],
            )
        insert_rows(
            con,
            "snapshot_info",
            ["snapshot_version", "built_at", "published_at", "events"],
            [("v1", T, T, 6)],
        )
        insert_rows(
            con,
            "contacts",
            [
                "org_id",
                "contact_id",
                "name",
                "email",
                "phone",
                "client_id",
                "first_seen_at",
                "last_seen_at",
                "records",
                "signal_ids",
            ],
            [
                (ORG, "ct-1", "Ana Lima", "ana@example.org", None, "cl1", T, T, 2, ["s1"]),
                (OTHER, "ct-9", "Other Person", None, None, None, T, T, 1, []),
            ],
            fill=fill,
        )
        insert_rows(
            con,
            "clients",
            ["org_id", "client_id", "name", "created_at"],
            [(ORG, "cl1", "Lima Foods", T)],
            fill=fill,
        )
        insert_rows(
            con,
            "identity_links",
            [
                "org_id",
                "entity_type",
                "canonical_id",
                "source_system",
                "source_id",
                "match_rule",
                "match_probability",
                "record_type",
                "record_id",
                "model_version",
                "model_parameters",
            ],
            [
                (
                    ORG,
                    "contact",
                    "ct-1",
                    "salesforce",
                    "003A",
                    "canonical",
                    1.0,
                    "contact",
                    "ct-1",
                    "fs-x",
                    "fixed",
                ),
                (ORG, "contact", "ct-1", "signal", "s1", "email", 1.0, "signal", "s1", "fs-x", "fixed"),
            ],
            fill=fill,
        )
        insert_rows(
            con,
            "signals",
            ["org_id", "signal_id", "status", "created_at"],
            [(ORG, "s1", "open", T)],
            fill=fill,
        )
        explanation = orjson.dumps({"name": {"level": "similar", "match_weight": 5.9}}).decode()
        insert_rows(
            con,
            "identity_pairs",
            [
                "org_id",
                "entity_type",
                "left_id",
                "right_id",
                "match_probability",
                "match_weight",
                "explanation",
                "linked",
                "model_version",
            ],
            [(ORG, "contact", "contact:ct-1", "contact:ct-2", 0.8, 2.0, explanation, False, "fs-x")],
            fill=fill,
        )
        insert_rows(
            con,
            "identity_conflicts",
            ["org_id", "entity_type", "kind", "left_id", "right_id", "detail"],
            [(ORG, "contact", "possible_match", "contact:ct-1", "contact:ct-2", "below threshold")],
            fill=fill,
        )
    return home


def _page(page: str, org: str = ORG, *, role: str = "governor", email: str = "gov@acme.test") -> AppTest:
    at = sign_in(AppTest.from_file(str(APP), default_timeout=60), add_user(email, role, (org,)))
    at.query_params["org"] = org
    at.run()
    at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _shown(at: AppTest) -> str:
    return " ".join(str(df.value.to_dict()) for df in at.dataframe) + " ".join(m.value for m in at.markdown)


def test_the_contacts_page_shows_a_person_with_their_records_and_signals_and_no_other_orgs_people(home):
    at = _page("app_pages/contacts.py")
    shown = _shown(at)
    assert "Ana Lima" in shown and "003A" in shown and "s1" in shown
    assert "Other Person" not in shown


def test_the_contacts_table_and_pickers_lead_with_names_not_ids(home):
    at = _page("app_pages/contacts.py")
    (table,) = [df for df in at.dataframe if "client_name" in df.value.columns]
    shown = list(table.proto.column_order) or list(table.value.columns)
    assert shown[0] == "name" and shown[-1] == "contact_id" and "client_id" not in shown
    assert table.value["client_name"].tolist() == ["Lima Foods"]
    (clients,) = [s for s in at.selectbox if s.label == "Client"]
    assert "Lima Foods" in clients.options and "cl1" not in clients.options
    (people,) = [s for s in at.selectbox if s.label == "Person"]
    assert people.options == ["Ana Lima (ct-1)"]


@pytest.mark.parametrize("page", ["app_pages/contacts.py", "app_pages/identity.py"])
def test_no_table_of_the_people_pages_shows_a_snake_case_header(home, page):
    at = _page(page)
    assert at.dataframe, page
    for table in at.dataframe:
        config = json.loads(table.proto.columns)
        headers = [config.get(column, {}).get("label") or column for column in table.value.columns]
        assert not [h for h in headers if "_" in h], (page, headers)


def test_a_governors_decision_on_a_conflict_becomes_a_merge_event_in_the_inbox(home, tmp_path):
    at = _page("app_pages/identity.py")
    assert "similar" in _shown(at)  # the pair's match weights are explained
    assert not at.text_input  # the actor is the signed-in governor, never a typed email
    at.radio[0].set_value("merged")
    at.button[0].click().run()
    assert not at.exception
    (written,) = (tmp_path / "inbox").glob("*.jsonl")
    event = json.loads(written.read_text())
    assert (event["event_name"], event["entity_id"], event["payload"]) == (
        "contact.merged",
        "ct-2",
        {"into_contact_id": "ct-1"},
    )
    assert event["actor"] == "gov@acme.test" and event["org_id"] == ORG


def test_a_viewer_sees_the_conflicts_but_cannot_decide(home, tmp_path):
    at = _page("app_pages/identity.py", role="viewer", email="viewer@acme.test")
    assert "similar" in _shown(at)
    assert not at.radio and [b.label for b in at.button] == ["Sign out"]
    assert not list((tmp_path / "inbox").glob("*.jsonl"))


def test_a_decision_without_an_actor_or_on_itself_writes_nothing():
    with pytest.raises(ValueError, match="actor"):
        identity_requests.build_decision(
            org_id=ORG, entity_type="contact", entity_id="a", other_id="b", decision="split", actor=" ", now=T
        )
    with pytest.raises(ValueError, match="itself"):
        identity_requests.build_decision(
            org_id=ORG,
            entity_type="client",
            entity_id="a",
            other_id="a",
            decision="merged",
            actor="gov",
            now=T,
        )
    event = identity_requests.build_decision(
        org_id=ORG, entity_type="client", entity_id="a", other_id="b", decision="split", actor="gov", now=T
    )
    assert set(event["payload"]) == {"from_client_id"} and event["event_name"] in EVENTS


# ------------------------------------------------------------------------------- forgetting a person

CONTACTS = "app_pages/contacts.py"


def _inbox_events(tmp_path: Path) -> list[dict]:
    return [
        json.loads(line) for f in (tmp_path / "inbox").glob("*.jsonl") for line in f.read_text().splitlines()
    ]


def _audit_rows(home: Path) -> list[dict]:
    return access.read_audit(home)


def _validation_reasons(path: Path) -> list[str | None]:
    """The ingest validator's verdict per record of an inbox file (None = valid)."""
    reasons: list[str | None] = []
    with duckdb.connect() as con:
        con.execute("SET TimeZone = 'UTC'")
        for batch in read_batches(path, file_format(path)):
            validate_batch(con, batch, now=T)
            reasons += [row[0] for row in con.execute("select reason from validated").fetchall()]
    return reasons


def test_a_governor_forgets_a_person_after_a_confirmation_naming_them(home, tmp_path, monkeypatch):
    monkeypatch.setenv(ENV_NOW, T.isoformat())
    at = _page(CONTACTS)
    assert "contacts_forget_yes" not in [b.key for b in at.button]
    at.button(key="contacts_forget").click().run()
    assert not at.exception
    confirmation = " ".join(m.value for m in at.markdown)
    assert "Forget Ana Lima" in confirmation and "ct-1" in confirmation
    assert not _inbox_events(tmp_path)  # nothing is written before the confirmation

    at.button(key="contacts_forget_yes").click().run()
    assert not at.exception, [e.value for e in at.exception]
    (written,) = (tmp_path / "inbox").glob("*.jsonl")
    (event,) = _inbox_events(tmp_path)
    assert (event["event_name"], event["entity_type"], event["entity_id"], event["org_id"]) == (
        "contact.erased",
        "contact",
        "ct-1",
        ORG,
    )
    assert event["actor"] == "gov@acme.test"
    assert event["payload"]["reason"] in identity_requests.ERASURE_REASONS
    assert _validation_reasons(written) == [None]
    assert "the next run applies it" in " ".join(s.value for s in at.success)

    (row,) = [r for r in _audit_rows(home) if r["action"] == "governance.requested"]
    assert row["org_id"] == ORG and row["target"] == event["event_id"]
    assert json.loads(row["detail"])["event_name"] == "contact.erased"
    everything = json.dumps(_audit_rows(home))
    for personal in ("Ana Lima", "ana@example.org", "ct-1"):
        assert personal not in everything


def test_a_governor_who_cancels_writes_nothing(home, tmp_path):
    at = _page(CONTACTS)
    at.button(key="contacts_forget").click().run()
    at.button(key="contacts_forget_no").click().run()
    assert not at.exception
    assert not _inbox_events(tmp_path)
    assert "Forget Ana Lima" not in " ".join(m.value for m in at.markdown)


def test_a_viewer_sees_no_way_to_forget_and_a_forged_request_writes_nothing(home, tmp_path):
    at = _page(CONTACTS, role="viewer", email="viewer@acme.test")
    assert "Ana Lima" in _shown(at)
    assert [b.label for b in at.button] == ["Sign out"]
    # A request put in the session as if the viewer had asked and confirmed.
    at.session_state[identity_requests.FORGET_PENDING_KEY] = {
        "org": ORG,
        "contact_id": "ct-1",
        "actor": "viewer@acme.test",
        "reason": identity_requests.ERASURE_REASONS[0],
    }
    at.run()
    assert not at.exception
    assert [b.label for b in at.button] == ["Sign out"]
    assert not _inbox_events(tmp_path)


def test_the_writer_refuses_a_viewer_even_with_a_principal_that_claims_to_govern(home, tmp_path):
    viewer = add_user("viewer@acme.test", "viewer", (ORG,))
    forged = access.Principal(
        user_id=viewer.user_id, email=viewer.email, is_admin=False, grants={ORG: "governor"}, via="password"
    )
    with pytest.raises(PermissionError, match="governors"):
        identity_requests.request_erasure(
            home, tmp_path / "inbox", forged, org_id=ORG, contact_id="ct-1", known_contact_ids={"ct-1"}, now=T
        )
    assert not _inbox_events(tmp_path)
    denied = [r for r in _audit_rows(home) if r["action"] == "access.denied"]
    assert [(r["actor"], r["org_id"], r["target"]) for r in denied] == [
        (viewer.user_id, ORG, "contact.erased")
    ]


def test_another_orgs_governor_can_neither_see_nor_forget_the_person(home, tmp_path):
    other = add_user("gov@globex.test", "governor", (OTHER,))
    at = sign_in(AppTest.from_file(str(APP), default_timeout=60), other)
    at.query_params["org"] = ORG
    at.run()
    at.switch_page(CONTACTS).run()
    assert not at.exception
    assert "Ana Lima" not in _shown(at)
    assert "contacts_forget" not in [b.key for b in at.button]
    with pytest.raises(PermissionError):
        identity_requests.request_erasure(
            home, tmp_path / "inbox", other, org_id=ORG, contact_id="ct-1", known_contact_ids={"ct-1"}, now=T
        )
    # Their own org's page honours no request made for the other org's person.
    at.query_params["org"] = OTHER
    at.session_state[identity_requests.FORGET_PENDING_KEY] = {
        "org": ORG,
        "contact_id": "ct-1",
        "actor": other.email,
        "reason": identity_requests.ERASURE_REASONS[0],
    }
    at.run()
    at.switch_page(CONTACTS).run()
    assert not at.exception
    assert "contacts_forget_yes" not in [b.key for b in at.button]
    assert not _inbox_events(tmp_path)


def test_a_person_not_of_the_org_in_the_snapshot_is_refused(home, tmp_path):
    governor = add_user("gov@acme.test", "governor", (ORG,))
    with pytest.raises(ValueError, match="not one of"):
        identity_requests.request_erasure(
            home,
            tmp_path / "inbox",
            governor,
            org_id=ORG,
            contact_id="ct-9",
            known_contact_ids={"ct-1"},
            now=T,
        )
    assert not _inbox_events(tmp_path)
