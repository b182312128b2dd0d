"""`user.erased` takes the user's name, email and title out of every earlier `user.updated` in the log
(so no as-of shows them), keeps later ones, leaves other users alone, and is idempotent."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import duckdb
import orjson

from dagster_project.apply.runner import enqueue_file_events, run_apply
from dagster_project.identity.user_erasure import scrub_erased_users
from dagster_project.ingestion.ingest import ingest_paths
from dagster_project.ingestion.readers import list_inbox
from dagster_project.lifecycle.fold import fold
from dagster_project.settings import HomePaths
from dagster_project.warehouse.store import connect, ensure_raw_schema
from tests.lifecycle.timeline import ev

NOW = datetime(2030, 1, 1, tzinfo=UTC)
NAMED = {"name": "Bo Brandt", "email": "bo@acme.test", "title": "AE", "role": "seller"}


def _story() -> list[dict]:
    return [
        ev("u1", "user.updated", "bo", 0, NAMED),
        ev("u2", "user.updated", "ann", 1, {"name": "Ann Archer"}),
        ev("u3", "user.erased", "bo", 2, {"reason": "asked to be forgotten"}),
        ev("u4", "user.updated", "bo", 3, {"name": "Bo B. (rehired)"}),
        ev("u5", "user.updated", "bo", 1, {"name": "Bo", "title": "AE"}, org="globex"),
    ]


def _warehouse(events: list[dict]) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    ensure_raw_schema(con)
    con.executemany(
        """insert into raw.events (org_id, event_id, occurred_at, event_name, entity_type, entity_id, actor,
           payload, content_hash, ingested_at, source_file, source_line) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
        [
            (e["org_id"], e["event_id"], e["occurred_at"], e["event_name"], e["entity_type"], e["entity_id"])
            + (e["actor"], orjson.dumps(e["payload"]).decode(), e["event_id"], NOW, "f.jsonl", i)
            for i, e in enumerate(events, 1)
        ],
    )
    return con


def _payloads(con: duckdb.DuckDBPyConnection) -> dict[tuple[str, str], dict]:
    rows = con.execute("select org_id, event_id, payload from raw.events").fetchall()
    return {(o, e): orjson.loads(p) for o, e, p in rows}


def test_an_erased_users_earlier_names_leave_the_log_and_later_ones_stay() -> None:
    con = _warehouse(_story())
    report = scrub_erased_users(con)
    payloads = _payloads(con)
    assert payloads[("acme", "u1")] == {"role": "seller", "erased_by": "u3"}
    assert payloads[("acme", "u4")] == {"name": "Bo B. (rehired)"}  # after the erasure: new data
    assert payloads[("acme", "u2")] == {"name": "Ann Archer"}
    assert payloads[("globex", "u5")] == {"name": "Bo", "title": "AE"}  # another org's bo
    assert report.event_keys == [("acme", "u1")] and report.redactions == 1


def test_a_past_as_of_never_shows_the_erased_name_once_the_log_is_scrubbed() -> None:
    con = _warehouse(_story())
    scrub_erased_users(con)
    events = [
        {
            **e,
            "payload": _payloads(con)[(e["org_id"], e["event_id"])],
        }
        for e in _story()
        if e["org_id"] == "acme"
    ]
    before_erasure = fold(events, as_of=events[1]["occurred_at"])
    (bo,) = [u for u in before_erasure.user_records if u["user_id"] == "bo"]
    assert (bo["name"], bo["email"], bo["title"]) == (None, None, None)


def test_scrubbing_twice_changes_nothing_the_second_time() -> None:
    con = _warehouse(_story())
    scrub_erased_users(con)
    first = _payloads(con)
    again = scrub_erased_users(con)
    assert _payloads(con) == first and again.event_keys == [] and not again.scrubbed


def test_the_apply_scrubs_an_erased_users_name_and_the_user_record_keeps_only_the_id(tmp_path: Path) -> None:
    now = datetime(2026, 3, 3, tzinfo=UTC)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    events = [{**e, "occurred_at": e["occurred_at"].isoformat()} for e in _story()]
    (inbox / "users.jsonl").write_bytes(b"\n".join(orjson.dumps(e) for e in events) + b"\n")
    paths = HomePaths(tmp_path / "home").ensure()
    con = connect(paths.warehouse)
    ensure_raw_schema(con)
    for f in ingest_paths(con, list_inbox(inbox, settle_seconds=0), now=now).ingested:
        enqueue_file_events(con, paths.control, f.file, now, now)
    report = run_apply(con, paths.control, now=now, as_of=now, worker="test")
    assert report.scrubbed_redactions == 1
    assert _payloads(con)[("acme", "u1")] == {"role": "seller", "erased_by": "u3"}
    rows = con.execute("select org_id, user_id, name from core.user_records order by all").fetchall()
    assert rows == [("acme", "ann", "Ann Archer"), ("acme", "bo", "Bo B. (rehired)"), ("globex", "bo", "Bo")]
