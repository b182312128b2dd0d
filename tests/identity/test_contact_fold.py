"""Contact events in the fold and the apply: contacts and the people signals name become contact
records, merges and splits become decisions, an erasure empties the personal fields, and nothing here
changes a lifecycle outcome."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import duckdb

from dagster_project.apply.batch import apply_batch
from dagster_project.lifecycle.fold import CONTACT_RECORD_COLUMNS, IDENTITY_DECISION_COLUMNS, fold
from dagster_project.lifecycle.store import ensure_core_schema
from dagster_project.warehouse.store import ensure_raw_schema
from tests.lifecycle.timeline import ev, log_events

NOW = datetime(2030, 1, 1, tzinfo=UTC)


def _story() -> list[dict]:
    return [
        ev(
            "e1", "signal.created", "s1", 0, {"source_type": "email", "contact_email": "Ana.Lima@Example.org"}
        ),
        ev(
            "e2",
            "contact.updated",
            "sf-003A",
            1,
            {
                "name": "Ana Lima",
                "email": "ana.lima@example.org",
                "phone": "+1 415 555 0100",
                "source_system": "salesforce",
                "source_id": "003A",
                "client_id": "cl1",
            },
        ),
        ev("e3", "contact.linked", "sf-003A", 2, {"signal_id": "s1"}),
        ev("e4", "contact.updated", "hs-9", 3, {"name": "ANA LIMA", "email": " ana.lima@example.org "}),
        ev("e5", "contact.merged", "hs-9", 4, {"into_contact_id": "sf-003A"}),
        ev("e6", "contact.split", "hs-9", 5, {"from_contact_id": "sf-003A"}),
        ev("e7", "client.merged", "cl2", 6, {"into_client_id": "cl1"}),
        ev(
            "e8",
            "client.updated",
            "cl1",
            7,
            {"name": "Example", "source_system": "hubspot", "source_id": "77"},
        ),
        ev("e9", "contact.erased", "hs-9", 8, {"reason": "asked to be forgotten"}),
        ev("e10", "signal.created", "s2", 9, {"source_type": "web"}),
    ]


def _records(result) -> dict[tuple[str, str], dict]:
    return {(r["record_type"], r["record_id"]): r for r in result.contact_records}


def test_contacts_and_the_people_signals_name_become_contact_records():
    records = _records(fold(_story()))
    assert sorted(records) == [("contact", "hs-9"), ("contact", "sf-003A"), ("signal", "s1")]
    ana = records[("contact", "sf-003A")]
    assert (ana["email"], ana["phone"], ana["client_id"]) == (
        "ana.lima@example.org",
        "+1 415 555 0100",
        "cl1",
    )
    assert (ana["source_system"], ana["source_id"], ana["signal_ids"]) == ("salesforce", "003A", ["s1"])
    assert records[("signal", "s1")]["email"] == "Ana.Lima@Example.org"
    assert all(tuple(r) == CONTACT_RECORD_COLUMNS for r in records.values())


def test_an_erased_contact_keeps_no_personal_field():
    erased = _records(fold(_story()))[("contact", "hs-9")]
    assert [erased[f] for f in ("name", "email", "phone", "title")] == [None] * 4
    assert erased["erased_at"] is not None


def test_merges_and_splits_of_contacts_and_clients_are_kept_as_decisions_in_event_time_order():
    decisions = [
        (d["entity_type"], d["entity_id"], d["other_id"], d["decision"])
        for d in fold(_story()).identity_decisions
    ]
    assert decisions == [
        ("contact", "hs-9", "sf-003A", "merged"),
        ("contact", "hs-9", "sf-003A", "split"),
        ("client", "cl2", "cl1", "merged"),
    ]
    assert all(tuple(d) == IDENTITY_DECISION_COLUMNS for d in fold(_story()).identity_decisions)


def test_a_clients_source_record_is_kept_and_contact_events_are_applied_without_lifecycle_effects():
    result = fold(_story())
    assert {c["client_id"]: (c["source_system"], c["source_id"]) for c in result.clients} == {
        "cl1": ("hubspot", "77"),
        "cl2": (None, None),
    }
    assert set(result.outcomes.values()) == {"applied"}
    assert result.rejected_events == []
    assert [t["entity_id"] for t in result.transitions] == ["s1", "s2"]


def test_the_same_events_in_any_order_give_the_same_records():
    events = _story()
    shuffled = events[:]
    random.Random(7).shuffle(shuffled)
    assert fold(shuffled).contact_records == fold(events).contact_records
    assert fold(shuffled).identity_decisions == fold(events).identity_decisions


def test_the_apply_writes_contact_records_and_decisions_to_the_core_tables():
    con = duckdb.connect()
    ensure_raw_schema(con)
    events = _story()
    log_events(con, events)
    apply_batch(con, [(e["org_id"], e["event_id"]) for e in events], as_of=NOW, now=NOW)
    written = con.execute(
        "select record_type, record_id, email from core.contact_records order by all"
    ).fetchall()
    assert written == [
        ("contact", "hs-9", None),
        ("contact", "sf-003A", "ana.lima@example.org"),
        ("signal", "s1", "Ana.Lima@Example.org"),
    ]
    assert con.execute("select count(*) from core.identity_decisions").fetchone() == (3,)


def test_a_warehouse_from_before_the_client_source_columns_gains_them():
    con = duckdb.connect()
    ensure_core_schema(con)
    con.execute("alter table core.client_parts drop column source_system")
    con.execute("alter table core.client_parts drop column source_id")
    ensure_core_schema(con)
    columns = {
        r[0]
        for r in con.execute(
            "select column_name from information_schema.columns "
            "where table_schema = 'core' and table_name = 'client_parts'"
        ).fetchall()
    }
    assert {"source_system", "source_id"} <= columns


def test_the_events_mart_accepts_every_entity_type_of_the_contract():
    import yaml

    from dagster_project.contract.events import ENTITY_TYPES
    from dagster_project.settings import DBT_PROJECT_DIR

    doc = yaml.safe_load(
        (DBT_PROJECT_DIR / "models" / "marts" / "events" / "_events__models.yml").read_text()
    )
    (events,) = [m for m in doc["models"] if m["name"] == "events"]
    (column,) = [c for c in events["columns"] if c["name"] == "entity_type"]
    (accepted,) = [t["accepted_values"] for t in column["data_tests"] if "accepted_values" in t]
    assert sorted(accepted["arguments"]["values"]) == sorted(ENTITY_TYPES)
