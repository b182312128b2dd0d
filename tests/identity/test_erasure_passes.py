"""When the scrub of forgotten people (`contact.erased`) reads the log again: an erasure is done again only
when what it reads changed since its last pass (the org's person events up to its time, the records
identity resolution puts with the person), so a drop of newer events does not re-read every person
event of the org, while a late record of the person or a new link is still scrubbed."""

from __future__ import annotations

from datetime import UTC, datetime

import duckdb
import orjson
import pytest

from dagster_project.identity import erasure
from dagster_project.identity.erasure import scrub_erased_contacts
from dagster_project.warehouse.store import ensure_raw_schema
from tests.lifecycle.timeline import ev, log_events

NOW = datetime(2030, 1, 1, tzinfo=UTC)
EMAIL = "zed.qx@example.org"


def _log(con: duckdb.DuckDBPyConnection, *events: dict) -> None:
    log_events(con, list(events))


def _payload(con: duckdb.DuckDBPyConnection, event_id: str) -> dict:
    return orjson.loads(
        con.execute("select payload from raw.events where event_id = ?", [event_id]).fetchone()[0]
    )


@pytest.fixture
def erased(monkeypatch) -> tuple[duckdb.DuckDBPyConnection, list[str]]:
    """A log where Zed (a contact, and a signal from the same address) was forgotten at minute 10, after
    one scrub; and the audit ids of the erasures each later scrub does again."""
    con = duckdb.connect()
    ensure_raw_schema(con)
    _log(
        con,
        ev(
            "c1",
            "contact.updated",
            "ct-zed",
            0,
            {"name": "Zed Qx", "email": EMAIL, "phone": "+1 415 555 0199"},
        ),
        ev("s1", "signal.created", "s1", 1, {"source_type": "email", "contact_email": EMAIL.upper()}),
        ev("c2", "contact.updated", "ct-bo", 2, {"name": "Bo Keep", "email": "bo.keep@example.org"}),
        ev("x1", "contact.erased", "ct-zed", 10, {"reason": "asked"}),
    )
    first = scrub_erased_contacts(con, now=NOW)
    assert first.audit_ids == ["x1"] and sorted(first.event_keys) == [("acme", "c1"), ("acme", "s1")]
    passes: list[str] = []
    real = erasure._erase

    def counted(con, e, linked, now, report):
        passes.append(e.audit_id)
        return real(con, e, linked, now, report)

    monkeypatch.setattr(erasure, "_erase", counted)
    return con, passes


def test_a_drop_of_newer_events_does_not_do_the_erasure_again(erased):
    con, passes = erased
    _log(con, ev("s9", "signal.created", "s9", 20, {"source_type": "web", "contact_email": EMAIL}))
    report = scrub_erased_contacts(con, now=NOW)
    assert passes == []
    assert report.events == 0
    # Newer data is not the erasure's: the later signal keeps its sender, as before.
    assert _payload(con, "s9")["contact_email"] == EMAIL


def test_a_late_record_of_the_person_dated_before_the_erasure_is_scrubbed_on_arrival(erased):
    con, passes = erased
    _log(con, ev("s2", "signal.created", "s2", 5, {"source_type": "web", "contact_email": f" {EMAIL} "}))
    report = scrub_erased_contacts(con, now=NOW)
    assert passes == ["x1"]
    assert report.event_keys == [("acme", "s2")]
    assert "contact_email" not in _payload(con, "s2")
    # Done once: the next drop finds the erasure's input as its last pass left it.
    _log(con, ev("s10", "signal.created", "s10", 30, {"source_type": "web"}))
    scrub_erased_contacts(con, now=NOW)
    assert passes == ["x1"]


def test_a_new_link_identity_resolution_makes_to_the_person_does_the_erasure_again(erased):
    con, passes = erased
    con.execute(
        """create table identity.links (org_id varchar, entity_type varchar, canonical_id varchar,
                                         record_type varchar, record_id varchar)"""
    )
    con.execute("insert into identity.links values ('acme', 'contact', 'p1', 'contact', 'ct-zed')")
    con.execute("insert into identity.links values ('acme', 'contact', 'p1', 'contact', 'ct-bo')")
    _log(con, ev("s11", "signal.created", "s11", 40, {"source_type": "web"}))
    report = scrub_erased_contacts(con, now=NOW)
    assert passes == ["x1"]
    assert report.event_keys == [("acme", "c2")]
    assert "name" not in _payload(con, "c2")
