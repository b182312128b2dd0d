"""The whole path on generated data in a temporary home: ingest → dbt build → publish, via the Dagster job."""

from __future__ import annotations

import gzip
import os
import random
import re
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import orjson
import polars as pl
import pytest

from dagster_project.contract.events import ENVELOPE_FIELDS, FUNNEL_STAGE_PAIRS
from dagster_project.generator import generate
from tests.events_factory import write_csv, write_jsonl, write_parquet
from tests.shared_homes import GENERATED_PAST, generated_past_home, run_in_memory

pytestmark = pytest.mark.integration

END = datetime(2026, 11, 27, 17, 0, tzinfo=UTC)
NOW = "2026-11-28T12:00:00+00:00"
AS_OF = "2026-11-27T17:00:00+00:00"
# Every output the contract calls deterministic (all but the operational logs).
DETERMINISTIC_MARTS = (
    "funnel_velocity",
    "event_volume_daily",
    "signals",
    "candidates",
    "pursuits",
    "clients",
    "transitions",
    "rejected_events",
    "config_registry",
    "gate_pass_rates",
    "win_loss",
    "sla_clocks",
    "sla_breaches",
    "sla_compliance_summary",
    "sla_compliance_weekly",
    "today_panel",
    "owner_workload",
    "pipeline_health",
    "win_rate_monthly",
    "funnel_stage_entries",
    "gate_attempts",
    # win scoring (sorted inputs, a deterministic solver) and follow-ups
    "pursuit_scores",
    "score_calibration",
    "follow_ups",
)


def _age(folder: Path) -> None:
    """Inbox files modified in the last seconds are treated as still being written; age them instead of sleeping."""
    for path in folder.iterdir():
        os.utime(path, (1_700_000_000, 1_700_000_000))


def _snapshot(home: Path, sql: str, params: list | None = None) -> list[tuple]:
    con = duckdb.connect(str(home / "serving.duckdb"), read_only=True)
    try:
        con.execute("SET TimeZone='UTC'")
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> tuple[Path, dict]:
    inbox = tmp_path_factory.mktemp("inbox")
    result = generate(inbox, orgs=3, events=4000, seed=11, bad_rate=0.03, end=END)
    _age(inbox)
    manifest = orjson.loads((inbox / ".manifest.json").read_bytes())
    return inbox, {"result": result, "manifest": manifest}


@pytest.fixture(scope="module")
def first_run(generated, tmp_path_factory):
    inbox, info = generated
    home = tmp_path_factory.mktemp("home")
    out = run_in_memory(home, inbox, as_of=AS_OF, now=NOW)  # with dbt's data tests, as the CLI runs it
    return home, out, info


def test_models_build_and_data_tests_run_in_dbt_processes_of_their_own(first_run):
    """dbt runs through dagster-dbt's public resource: a dbt process per command, never this process.
    dbt's file log opens each command with a line naming its invocation id; dbt run in this process
    would have left that id as this process's current one."""
    from dbt_common.invocation import get_invocation_id

    home, _, _ = first_run
    invocations: dict[str, str] = {}
    current = None
    for line in (home / "dbt-target" / "dbt.log").read_text().splitlines():
        if opening := re.match(r"=+ \S+ \| (\S+) =+$", line):
            current = opening.group(1)
            invocations[current] = ""
        elif current and "Finished running" in line:
            invocations[current] = line.split("Finished running", 1)[1]
    builds = [i for i, stats in invocations.items() if "table model" in stats]
    tests = [i for i, stats in invocations.items() if "data tests in" in stats]
    assert builds and tests, invocations
    assert get_invocation_id() not in invocations


def test_ledger_matches_what_the_generator_wrote(first_run):
    home, _, info = first_run
    expected = {f["name"]: f for f in info["manifest"]["files"]}
    ledger = _snapshot(home, "select file, lines, accepted, duplicates, quarantined from marts.ingest_ledger")
    assert {row[0] for row in ledger} == set(expected)
    for file, lines, accepted, duplicates, quarantined in ledger:
        want = expected[file]
        assert (lines, accepted, duplicates, quarantined) == (
            want["lines"],
            want["accepted"],
            want["duplicates"],
            want["quarantined"],
        ), file
        assert lines == accepted + duplicates + quarantined


def test_quarantine_reasons_match_injected_bad_lines(first_run):
    home, _, info = first_run
    got = dict(_snapshot(home, "select reason, count(*) from marts.quarantine group by 1"))
    assert got == {k: v for k, v in info["result"].bad_lines.items() if v}
    raws = _snapshot(
        home, "select count(*) from marts.quarantine where raw is null or file is null or line < 1"
    )
    assert raws == [(0,)]


def test_marts_are_published_with_contract_columns(first_run):
    home, out, info = first_run
    assert out["assets"]["serving_snapshot"]["events"] == info["result"].events
    cols = dict(
        _snapshot(
            home,
            "select table_name, list(column_name order by column_name) from information_schema.columns "
            "where table_schema = 'marts' group by 1",
        )
    )
    assert set(ENVELOPE_FIELDS) <= set(cols["events"])
    assert {"file", "line", "reason", "raw"} <= set(cols["quarantine"])
    assert {"file", "content_hash", "lines", "accepted", "duplicates", "quarantined"} <= set(
        cols["ingest_ledger"]
    )
    assert {
        "org_id",
        "from_stage",
        "to_stage",
        "entered",
        "converted",
        "conversion_rate",
        "median_hours",
        "p90_hours",
    } <= set(cols["funnel_velocity"])
    (built_at,) = _snapshot(home, "select built_at from marts.snapshot_info")[0]
    assert built_at == datetime(2026, 11, 27, 17, 0, tzinfo=UTC)
    orgs = _snapshot(home, "select org_id, count(*) from marts.funnel_velocity group by 1")
    assert len(orgs) == 3 and all(n == len(FUNNEL_STAGE_PAIRS) for _, n in orgs), (
        "every stage pair, zero-filled, per org"
    )


def test_rerun_with_nothing_new_is_a_noop(first_run, generated):
    home, _, info = first_run
    inbox, _ = generated
    before = _snapshot(home, "select count(*) from marts.events")
    out = run_in_memory(home, inbox, as_of=AS_OF, now=NOW, tests=False)
    assert out["assets"]["raw/events"]["files_new"] == 0
    assert _snapshot(home, "select count(*) from marts.events") == before
    assert _snapshot(home, "select count(*) from marts.ingest_ledger") == [(len(info["manifest"]["files"]),)]


def _read_all(inbox: Path) -> list[dict]:
    records: list[dict] = []
    for path in sorted(inbox.iterdir()):
        name = path.name
        if name.startswith("."):
            continue
        if name.endswith(".jsonl") or name.endswith(".jsonl.gz"):
            data = gzip.decompress(path.read_bytes()) if name.endswith(".gz") else path.read_bytes()
            records += [orjson.loads(line) for line in data.splitlines() if line.strip()]
        else:
            frame = (
                pl.read_parquet(path) if name.endswith(".parquet") else pl.read_csv(path, infer_schema=False)
            )
            for row in frame.iter_rows(named=True):
                row["payload"] = orjson.loads(row["payload"])
                records.append(row)
    return records


def test_same_events_shuffled_and_split_give_identical_marts(first_run, tmp_path):
    """Determinism: order, split and format never change the deterministic outputs, and neither do the
    bad lines and duplicates around the same valid events. One more run proves both: the valid events
    alone, shuffled and split over three formats, against the first run's inbox as generated (a
    pipeline run is the suite's dearest step; a break of either rule shows as a difference here)."""
    home_a, _, _ = first_run
    clean_inbox = tmp_path / "clean"
    generate(clean_inbox, orgs=3, events=4000, seed=11, bad_rate=0.0, end=END)
    records = _read_all(clean_inbox)
    random.Random(3).shuffle(records)
    shuffled = tmp_path / "shuffled"
    shuffled.mkdir()
    thirds = len(records) // 3
    write_parquet(shuffled / "x.parquet", records[:thirds])
    write_csv(shuffled / "y.csv", records[thirds : 2 * thirds])
    write_jsonl(shuffled / "z.jsonl.gz", records[2 * thirds :], gz=True)
    _age(shuffled)
    home_c = tmp_path / "home_c"
    run_in_memory(home_c, shuffled, as_of=AS_OF, now=NOW, tests=False)
    for mart in DETERMINISTIC_MARTS:
        sql = f"select * from marts.{mart} order by all"
        a, c = _snapshot(home_a, sql), _snapshot(home_c, sql)
        assert a == c, mart
        assert c, mart
    events_sql = (
        "select org_id, event_id, occurred_at, event_name, entity_type, entity_id, actor, payload::varchar "
        "from marts.events order by org_id, event_id"
    )
    # The bad-line run holds exactly the same valid events as the shuffled clean one.
    assert _snapshot(home_a, events_sql) == _snapshot(home_c, events_sql)


def test_as_of_filters_by_event_time(tmp_path_factory):
    # A home built as of a past moment is one the session shares (tests/shared_homes.py): its inbox
    # holds events after that moment, and the home none of them.
    home = generated_past_home(tmp_path_factory)
    later = "select count(*) from {}.events where occurred_at > ?::timestamptz"
    (late,) = _snapshot(home, later.format("marts"), [GENERATED_PAST])[0]
    assert late == 0
    (kept,) = _snapshot(home, "select count(*) from marts.events")[0]
    assert kept > 0
    warehouse = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    try:
        (ingested_later,) = warehouse.execute(later.format("raw"), [GENERATED_PAST]).fetchone()
    finally:
        warehouse.close()
    assert ingested_later > 0


def test_quarantine_export_gives_fixable_records(first_run, tmp_path, now):
    """Exported records are the original records: fixing the naive timestamps makes them acceptable."""
    from dagster_project.ingestion.ingest import ingest_file
    from dagster_project.ingestion.quarantine import export_quarantine
    from dagster_project.serving.reader import SYSTEM
    from dagster_project.warehouse.store import connect, ensure_raw_schema

    home, _, _ = first_run
    out = tmp_path / "naive.jsonl"
    written, skipped = export_quarantine(home / "serving.duckdb", out, scope=SYSTEM, reason="naive_timestamp")
    (expected,) = _snapshot(home, "select count(*) from marts.quarantine where reason = 'naive_timestamp'")[0]
    assert (written, skipped) == (expected, 0) and written > 0
    fixed = tmp_path / "fixed.jsonl"
    records = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    for record in records:
        record["occurred_at"] += "Z"
    write_jsonl(fixed, records)
    con = connect(tmp_path / "w.duckdb")
    ensure_raw_schema(con)
    result = ingest_file(con, fixed, now=now)
    con.close()
    assert (result.accepted, result.quarantined) == (written, 0)
