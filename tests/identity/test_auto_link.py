"""Auto-linking is off by default; where an org switches it on, a known person's unlinked signal gets an
explicit `candidate.updated` event for their one open candidate, written once."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import duckdb

from dagster_project.apply.batch import apply_batch
from dagster_project.identity.autolink import auto_link_events, write_auto_links
from dagster_project.identity.store import resolve_identities
from dagster_project.warehouse.store import ensure_raw_schema
from tests.lifecycle.timeline import config, ev, log_events

NOW = datetime(2030, 1, 1, tzinfo=UTC)


def _warehouse(auto_link: bool | None) -> duckdb.DuckDBPyConnection:
    events = [
        ev("e1", "signal.created", "s1", 0, {"source_type": "email", "contact_email": "ana@example.org"}),
        ev("e2", "candidate.created", "k1", 1, {"title": "Fleet", "signal_ids": ["s1"]}),
        ev("e3", "signal.created", "s2", 2, {"source_type": "web", "contact_email": " ANA@example.org"}),
        ev("e4", "signal.created", "s3", 3, {"source_type": "web", "contact_email": "bo@example.org"}),
    ]
    if auto_link is not None:
        events.append(config("c1", -1, "identity.auto_link", auto_link))
    con = duckdb.connect()
    ensure_raw_schema(con)
    log_events(con, events)
    apply_batch(con, [(e["org_id"], e["event_id"]) for e in events], as_of=NOW, now=NOW)
    resolve_identities(con)
    return con


def test_by_default_and_when_off_nothing_is_linked():
    assert auto_link_events(_warehouse(None), now=NOW) == []
    assert auto_link_events(_warehouse(False), now=NOW) == []


def test_when_on_the_persons_new_signal_is_linked_to_their_open_candidate_once(tmp_path):
    con = _warehouse(True)
    (event,) = auto_link_events(con, now=NOW)
    assert (event["event_name"], event["entity_id"], event["payload"]) == (
        "candidate.updated",
        "k1",
        {"signal_ids": ["s2"]},
    )
    written = write_auto_links(tmp_path, [event])
    assert json.loads(written.read_text())["event_id"] == event["event_id"]
    log_events(con, [{**event, "occurred_at": NOW}])  # the next run ingests it: not asked for again
    assert auto_link_events(con, now=NOW) == []
