"""A whole `workstream run` over hostile input: hostile records are quarantined by name, a cluster the
apply cannot handle is skipped and named, the run exits 0 and publishes the rest.

Before validation refused them, each of these records was accepted and then failed the apply for every
org (a time Python cannot hold, a payload past the JSON parser's depth limit, a number it cannot hold),
or reached the marts with a value the validator never saw (a duplicate key folded with its last value).
One run serves both tests: a pipeline run is the suite's dearest step.
"""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import Result
from typer.testing import CliRunner

from dagster_project.apply import batch as apply
from dagster_project.apply import fast
from dagster_project.cli import app
from dagster_project.control import outbox_reports
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


# Events of the poisoned cluster (beta's sig-2), of the cluster beside it, and of another org.
POISON_RUN = ("e1", "e2", "e3")


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Result]:
    root = tmp_path_factory.mktemp("hostile")
    inbox = _hostile_inbox(root / "inbox")
    write_jsonl(
        inbox / "events.jsonl",
        [
            event("e1", org_id="acme", entity_id="sig-9"),
            event("e2", org_id="beta", entity_id="sig-2"),
            event("e3", org_id="beta", entity_id="sig-3"),
            b"{not json",
        ],
    )
    os.utime(inbox / "events.jsonl", (1_700_000_000, 1_700_000_000))
    home = root / "home"
    capture = apply.capture_atoms

    def poisoned(events, *args, **kwargs):  # the apply cannot handle beta's sig-2, whatever the reason
        if any(e["entity_id"] == "sig-2" for e in events):
            raise RuntimeError("cannot handle sig-2")
        return capture(events, *args, **kwargs)

    select_fast = fast.select_fast
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(apply, "capture_atoms", poisoned)
        # The poison is in the Python capture: keep these lone signals off the set-based path, which has none.
        patch.setattr(fast, "select_fast", lambda con, _registries, as_of: select_fast(con, {}, as_of))
        # The command in this process (a process of its own would pay every import again); dbt's data
        # tests are beside the point here (they run in test_pipeline).
        done = CliRunner().invoke(
            app,
            ["run", "--inbox", str(inbox), "--home", str(home), "--as-of", AS_OF, "--skip-tests"],
            env={"WORKSTREAM_NOW": NOW, "COLUMNS": "240"},
        )
    return home, done


def test_a_run_over_hostile_records_quarantines_them_by_name_and_publishes_the_rest(
    hostile_run: tuple[Path, Result],
):
    home, done = hostile_run
    assert done.exit_code == 0, done.output
    for reason in ("bad_timestamp", "too_deep", "duplicate_key", "number_overflow", "wrong_type"):
        assert reason in done.stdout, (reason, done.stdout)
    con = duckdb.connect(str(home / "serving.duckdb"), read_only=True)
    try:
        published = con.execute("select event_id from marts.events order by 1").fetchall()
        assert [row for row in published if row[0] not in POISON_RUN] == [
            ("ok-1",),
            ("ok-2",),
            ("ok-3",),
            ("ok-4",),
        ]
        assert con.execute("select count(*) from marts.candidates").fetchone() == (0,)
        quarantined = con.execute(
            "select file, line, reason from marts.quarantine where file <> 'events.jsonl' order by 1, 2"
        ).fetchall()
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


def test_a_run_with_a_poison_cluster_and_quarantined_lines_exits_0_and_names_them(
    hostile_run: tuple[Path, Result],
):
    home, done = hostile_run
    assert done.exit_code == 0, done.output
    assert (home / "serving.duckdb").exists()
    assert "skipped: beta signal:sig-2" in done.output
    assert "RuntimeError: cannot handle sig-2" in done.output
    assert "bad_json" in done.output
    assert [i["status"] for i in outbox_reports.items(home / "control.sqlite", "beta")] == [
        "pending",
        "processed",
    ]
