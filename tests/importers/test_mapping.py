"""The mapping's choices: note retention, the gate window, the org's previous gate mode."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import duckdb
import orjson

from dagster_project.importers.fake import fake_export
from dagster_project.importers.run import run_import
from dagster_project.importers.writing import gate_events

NOW = datetime(2026, 11, 20, tzinfo=UTC)


def _events(paths: list[Path]) -> list[dict]:
    return [orjson.loads(line) for p in paths for line in p.read_bytes().splitlines()]


def test_by_default_a_note_keeps_its_crm_date_so_retention_counts_from_there(tmp_path: Path) -> None:
    fake_export(tmp_path / "x", "salesforce", rows=60, seed=1)
    events = _events(run_import("salesforce", tmp_path / "x", "acme", tmp_path / "in", now=NOW).files)
    notes = [e for e in events if e["event_name"].endswith(".note_added")]
    assert notes and not [e for e in events if e["event_name"] == "memory.recorded"]
    assert all(e["occurred_at"] < "2026-11-02" for e in notes)


def test_keep_makes_imported_notes_atoms_that_do_not_expire_with_age(tmp_path: Path) -> None:
    fake_export(tmp_path / "x", "hubspot", rows=60, seed=1)
    result = run_import("hubspot", tmp_path / "x", "acme", tmp_path / "in", now=NOW, retention="keep")
    atoms = [e for e in _events(result.files) if e["event_name"] == "memory.recorded"]
    assert atoms and {a["payload"]["expires_at"] for a in atoms} == {"9999-12-31T00:00:00.000000Z"}
    assert all(a["payload"]["atom_type"] in ("decision", "risk", "preference", "note") for a in atoms)
    assert not [e for e in _events(result.files) if e["event_name"].endswith(".note_added")]


def test_the_gate_window_runs_from_the_first_record_to_just_after_the_last() -> None:
    first, last = datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 6, 1, tzinfo=UTC)
    inside, outside = datetime(2024, 3, 1, tzinfo=UTC), datetime(2025, 1, 1, tzinfo=UTC)
    events = gate_events("salesforce", "acme", first, last, "enforce", [inside, outside])
    got = [(e[2], e[7]["value"]) for e in events]
    assert got == [
        ("2024-01-01T00:00:00.000000Z", "warn"),
        ("2024-03-01T00:00:00.000000Z", "warn"),  # an earlier import's window closed here: reopened
        ("2024-06-01T00:00:00.000001Z", "enforce"),
    ]


def test_a_second_import_reopens_the_window_an_earlier_one_closed_inside_it(tmp_path: Path) -> None:
    fake_export(tmp_path / "sf", "salesforce", rows=60, seed=1)
    fake_export(tmp_path / "hs", "hubspot", rows=60, seed=2)
    first = run_import("salesforce", tmp_path / "sf", "acme", tmp_path / "in", now=NOW)
    second = run_import("hubspot", tmp_path / "hs", "acme", tmp_path / "in", now=NOW)
    closed = next(e for e in _events(first.files) if ":gate:restore:" in e["event_id"])["occurred_at"]
    reopened = [e for e in _events(second.files) if ":gate:rewarn:" in e["event_id"]]
    assert [e["occurred_at"] for e in reopened] == [closed]


def test_the_window_closes_back_to_the_mode_the_org_had_in_its_home(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    con = duckdb.connect(str(home / "serving.duckdb"))
    con.execute("create schema marts")
    con.execute(
        "create table marts.config_registry (org_id varchar, key varchar, value varchar, "
        "effective_from timestamptz, event_id varchar, source varchar)"
    )
    con.execute(
        "insert into marts.config_registry values ('acme', 'gate_mode', '\"warn\"', '2020-01-01 00:00:00+00', "
        "'own-1', 'override'), ('acme', 'gate_mode', '\"enforce\"', '2030-01-01 00:00:00+00', 'import:x', 'override')"
    )
    con.close()
    fake_export(tmp_path / "x", "salesforce", rows=60, seed=1)
    result = run_import("salesforce", tmp_path / "x", "acme", tmp_path / "in", now=NOW, home=home)
    assert result.previous_mode == "warn"
    restore = next(e for e in _events(result.files) if ":gate:restore:" in e["event_id"])
    assert restore["payload"] == {"key": "gate_mode", "value": "warn"}


def test_a_large_import_is_split_into_parts_in_time_order(tmp_path: Path, monkeypatch) -> None:
    from dagster_project.importers import writing

    monkeypatch.setattr(writing, "PART_EVENTS", 40)
    fake_export(tmp_path / "x", "salesforce", rows=60, seed=1)
    result = run_import("salesforce", tmp_path / "x", "acme", tmp_path / "in", now=NOW)
    parts = [p for p in result.files if not p.name.endswith("-gate.jsonl")]
    sizes = [len(p.read_bytes().splitlines()) for p in parts]
    assert len(parts) > 1 and sizes[:-1] == [40] * (len(parts) - 1) and 0 < sizes[-1] <= 40
    assert sum(sizes) == result.events
    times = [e["occurred_at"] for e in _events(parts)]
    assert times == sorted(times)
    assert [p.name[-10:] for p in parts] == [f"{n:04d}.jsonl" for n in range(1, len(parts) + 1)]


def test_a_closed_deal_without_history_closes_at_its_close_date_never_after_the_clock(tmp_path: Path) -> None:
    src = tmp_path / "x"
    src.mkdir()
    (src / "Opportunity.csv").write_text(
        "Id,Name,StageName,CloseDate,CreatedDate\n"
        "006A,Pilot,Closed Won,2024-03-01,2024-01-10T11:00:00Z\n"
        "006B,Later,Closed Lost,2027-06-01,2024-01-10T11:00:00Z\n"
    )
    events = _events(run_import("salesforce", src, "acme", tmp_path / "in", now=NOW).files)
    closes = {e["entity_id"]: e["occurred_at"] for e in events if e["payload"].get("to") in ("won", "lost")}
    assert closes == {"sf-006A": "2024-03-01T00:00:00.000000Z", "sf-006B": "2026-11-20T00:00:00.000000Z"}
