"""User events in the fold and the apply: the people `owner` and `actor` name become user records keyed
by that same value, a later update wins field by field, an erasure empties the name, and nothing here
changes a lifecycle outcome."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import duckdb
import orjson

from dagster_project.apply.batch import apply_batch
from dagster_project.lifecycle.fold import USER_RECORD_COLUMNS, fold
from dagster_project.warehouse.store import ensure_raw_schema
from tests.lifecycle.timeline import ev

NOW = datetime(2030, 1, 1, tzinfo=UTC)


def _story() -> list[dict]:
    return [
        ev("u1", "user.updated", "ann@acme.test", 0, {"name": "Ann Archer", "email": "ann@acme.test"}),
        ev("u2", "user.updated", "ann@acme.test", 1, {"title": "Account executive", "active": True}),
        ev(
            "u3",
            "user.updated",
            "sf-005B",
            2,
            {"name": "Bo Brandt", "role": "seller", "source_system": "salesforce", "source_id": "005B"},
        ),
        ev("u4", "user.erased", "sf-005B", 3, {"reason": "left the company and asked to be forgotten"}),
        ev("c1", "candidate.created", "cand-1", 4, {"title": "Roof", "owner": "ann@acme.test"}),
    ]


def _users(result) -> dict[str, dict]:
    return {r["user_id"]: r for r in result.user_records}


def test_user_events_become_one_record_per_user_keyed_by_the_id_owners_hold():
    users = _users(fold(_story()))
    assert sorted(users) == ["ann@acme.test", "sf-005B"]
    ann = users["ann@acme.test"]
    assert (ann["name"], ann["email"], ann["title"], ann["active"]) == (
        "Ann Archer",
        "ann@acme.test",
        "Account executive",
        True,
    )
    assert all(tuple(r) == USER_RECORD_COLUMNS for r in users.values())


def test_an_erased_user_keeps_its_id_but_no_name_email_or_title():
    bo = _users(fold(_story()))["sf-005B"]
    assert [bo[f] for f in ("name", "email", "title")] == [None] * 3
    assert bo["erased_at"] is not None
    assert (bo["role"], bo["source_id"]) == ("seller", "005B")


def test_user_events_are_applied_without_lifecycle_effects_in_any_order():
    events = _story()
    result = fold(events)
    assert {result.outcomes[("acme", e)] for e in ("u1", "u2", "u3", "u4")} == {"applied"}
    assert result.rejected_events == []
    assert [t["entity_id"] for t in result.transitions] == ["cand-1"]
    shuffled = events[:]
    random.Random(3).shuffle(shuffled)
    assert fold(shuffled).user_records == result.user_records


def test_the_apply_writes_user_records_to_the_core_table():
    con = duckdb.connect()
    ensure_raw_schema(con)
    events = _story()
    con.executemany(
        """insert into raw.events (org_id, event_id, occurred_at, event_name, entity_type, entity_id, actor,
           payload, content_hash, ingested_at, source_file, source_line) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
        [
            (
                *(
                    e[k]
                    for k in ("org_id", "event_id", "occurred_at", "event_name", "entity_type", "entity_id")
                ),
            )
            + (e["actor"], orjson.dumps(e["payload"]).decode(), e["event_id"], NOW, "f.jsonl", i)
            for i, e in enumerate(events, 1)
        ],
    )
    apply_batch(con, [(e["org_id"], e["event_id"]) for e in events], as_of=NOW, now=NOW)
    written = con.execute("select user_id, name, title from core.user_records order by all").fetchall()
    assert written == [("ann@acme.test", "Ann Archer", "Account executive"), ("sf-005B", None, None)]
