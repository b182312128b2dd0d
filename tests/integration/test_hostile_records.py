"""A whole `workstream run` over hostile records: they are quarantined by name, the rest is published.

Before validation refused them, each of these records was accepted and then failed the apply for every
org (a time Python cannot hold, a payload past the JSON parser's depth limit, a number it cannot hold),
or reached the marts with a value the validator never saw (a duplicate key folded with its last value).
"""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from dagster_project.cli import app
from tests.events_factory import event, write_jsonl, write_parquet

pytestmark = pytest.mark.integration

NOW = "2026-12-01T00:00:00+00:00"  # the as-of is the clock: a run cannot see the future
AS_OF = "2026-12-01T00:00:00+00:00"


def _hostile_inbox(folder: Path) -> Path:
    folder.mkdir()
    candidate = {"event_name": "candidate.created", "entity_type": "candidate", "entity_id": "c-1"}
    valid = orjson.dumps(event("ok-1"))
    lowercase = orjson.dumps(event("ok-2", org_id="globex", occurred_at="2026-10-05t09:14:03z"))
    year_zero = orjson.dumps(event("h-1", occurred_at="0000-06-01T00:00:00Z"))
    deep = orjson.dumps(event("h-2", payload={"source_type": "email", "x": 0})).replace(
        b'"x":0', b'"x":' + b"[" * 1100 + b"]" * 1100
    )
    ambiguous = orjson.dumps(
        event("h-3", payload={"title": "Deal", "value_band": "low"}, **candidate)
    ).replace(b'"value_band":"low"', b'"value_band":"low","value_band":"gigantic"')
    overflow = orjson.dumps(event("h-4", payload={"source_type": "email", "x": 0})).replace(
        b'"x":0', b'"x":1e400'
    )
    two_orgs = orjson.dumps(event("h-5")).replace(b'"org_id":"acme"', b'"org_id":"acme","org_id":"globex"')
    # the edges of the supported range are accepted, and the apply holds them
    earliest = orjson.dumps(event("ok-3", occurred_at="0001-01-01T00:00:00Z", entity_id="s-old"))
    latest_expiry = orjson.dumps(
        event(
            "ok-4",
            event_name="memory.recorded",
            entity_id="s-old",
            payload={"atom_type": "risk", "content": "x", "expires_at": "9999-12-31T23:59:59.999999Z"},
        )
    )
    write_jsonl(
        folder / "a.jsonl",
        [valid, lowercase, year_zero, deep, ambiguous, overflow, two_orgs, earliest, latest_expiry],
    )
    typed = folder / "b.parquet"
    write_parquet(typed, [event("h-6")])
    table = pq.read_table(typed)
    table = table.set_column(0, "event_id", pa.array([6], pa.int64()))
    pq.write_table(table, typed)
    for path in folder.iterdir():  # files written in the last seconds count as still being written
        os.utime(path, (1_700_000_000, 1_700_000_000))
    return folder


def test_a_run_over_hostile_records_quarantines_them_by_name_and_publishes_the_rest(tmp_path: Path):
    inbox = _hostile_inbox(tmp_path / "inbox")
    home = tmp_path / "home"
    # The command in this process (a process of its own would pay every import again).
    done = CliRunner().invoke(
        app,
        ["run", "--inbox", str(inbox), "--home", str(home), "--as-of", AS_OF, "--skip-tests"],
        env={"WORKSTREAM_NOW": NOW},
    )
    assert done.exit_code == 0, done.output
    for reason in ("bad_timestamp", "too_deep", "duplicate_key", "number_overflow", "wrong_type"):
        assert reason in done.stdout, (reason, done.stdout)
    con = duckdb.connect(str(home / "serving.duckdb"), read_only=True)
    try:
        published = con.execute("select event_id from marts.events order by 1").fetchall()
        assert published == [("ok-1",), ("ok-2",), ("ok-3",), ("ok-4",)]
        assert con.execute("select count(*) from marts.candidates").fetchone() == (0,)
        quarantined = con.execute("select file, line, reason from marts.quarantine order by 1, 2").fetchall()
    finally:
        con.close()
    assert quarantined == [
        ("a.jsonl", 3, "bad_timestamp"),
        ("a.jsonl", 4, "too_deep"),
        ("a.jsonl", 5, "duplicate_key"),
        ("a.jsonl", 6, "number_overflow"),
        ("a.jsonl", 7, "duplicate_key"),
        ("b.parquet", 1, "wrong_type"),
    ]
