"""The CLI's contract with its users: deterministic generation, clear errors, non-zero exits."""

from __future__ import annotations

import csv
import os
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from dagster_project.cli import app
from dagster_project.commands.run import alerts_line
from dagster_project.settings import ENV_NOW
from tests.events_factory import event, write_jsonl

runner = CliRunner()


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_generate_is_deterministic(tmp_path: Path):
    args = ["generate", "--events", "3000", "--orgs", "2", "--seed", "5", "--bad-rate", "0.02"]
    first = runner.invoke(app, [*args, "--out", str(tmp_path / "a")])
    second = runner.invoke(app, [*args, "--out", str(tmp_path / "b")])
    assert first.exit_code == 0 and second.exit_code == 0, first.output
    assert _files(tmp_path / "a") == _files(tmp_path / "b")
    other = runner.invoke(app, [*args[:-3], "6", "--out", str(tmp_path / "c")])
    assert other.exit_code == 0
    assert _files(tmp_path / "a") != _files(tmp_path / "c")


def test_run_rejects_a_missing_inbox(tmp_path: Path):
    result = runner.invoke(app, ["run", "--inbox", str(tmp_path / "nope"), "--home", str(tmp_path / "home")])
    assert result.exit_code == 2


def test_run_rejects_a_naive_as_of(tmp_path: Path):
    (tmp_path / "inbox").mkdir()
    result = runner.invoke(
        app,
        [
            "run",
            "--inbox",
            str(tmp_path / "inbox"),
            "--home",
            str(tmp_path / "h"),
            "--as-of",
            "2026-11-01T00:00",
        ],
    )
    assert result.exit_code != 0
    assert "offset" in result.output


def test_quarantine_export_without_snapshot_says_so(tmp_path: Path):
    result = runner.invoke(
        app,
        ["quarantine", "export", "--all-orgs", "--home", str(tmp_path), "--out", str(tmp_path / "q.jsonl")],
    )
    assert result.exit_code == 2
    assert "workstream run" in result.output


def test_run_refuses_an_as_of_later_than_its_clock(tmp_path: Path, monkeypatch):
    monkeypatch.setenv(ENV_NOW, "2026-11-28T12:00:00Z")
    (tmp_path / "inbox").mkdir()
    result = runner.invoke(
        app,
        [
            "run",
            "--inbox",
            str(tmp_path / "inbox"),
            "--home",
            str(tmp_path / "h"),
            "--as-of",
            "2026-11-28T12:06:00Z",
        ],
    )
    assert result.exit_code == 2
    assert "later than the clock" in " ".join(result.output.split())
    assert not (tmp_path / "h").exists()  # refused before anything was written


def test_the_run_summary_says_why_a_past_as_of_recorded_no_alerts():
    line = alerts_line(
        {"new_alerts": 0, "skipped": "as-of 2026-11-01T00:00:00+00:00 is earlier than the clock"}
    )
    assert line.startswith("none recorded or delivered") and "earlier than the clock" in line
    assert alerts_line({"new_alerts": 3, "suppressed": 1}) == "3 new (2 active, 1 suppressed)"


def _run(inbox: Path, home: Path, *extra: str):
    return runner.invoke(app, ["run", "--inbox", str(inbox), "--home", str(home), *extra])


def _settled(folder: Path) -> None:
    """Files older than the inbox's settle time, so the ingest takes them now."""
    for path in folder.rglob("*"):
        os.utime(path, (path.stat().st_mtime - 60, path.stat().st_mtime - 60))


def test_run_refuses_a_file_given_as_the_inbox_and_says_it_is_a_file(tmp_path: Path):
    events = write_jsonl(tmp_path / "events.jsonl", [event()])
    result = _run(events, tmp_path / "home")
    assert result.exit_code == 2
    assert f"inbox {events} is a file" in result.output
    assert not (tmp_path / "home").exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every folder whatever its mode")
def test_run_refuses_an_inbox_it_may_not_read(tmp_path: Path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    write_jsonl(inbox / "a.jsonl", [event()])
    inbox.chmod(0)
    try:
        result = _run(inbox, tmp_path / "home")
    finally:
        inbox.chmod(0o755)
    assert result.exit_code == 2
    assert f"cannot read inbox {inbox}" in result.output


def test_run_refuses_an_inbox_whose_listing_the_system_denies(tmp_path: Path, monkeypatch):
    """What a non-root user meets on a folder without read permission (the suite may run as root)."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()

    def denied(path):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(os, "scandir", denied)
    result = _run(inbox, tmp_path / "home")
    assert result.exit_code == 2
    assert f"cannot read inbox {inbox}: Permission denied" in result.output


def _control_with_one_dead_letter(home: Path) -> None:
    """A control store where org acme has one dead letter and one pending item."""
    from dagster_project.control import outbox
    from dagster_project.settings import HomePaths

    control = HomePaths(home).ensure().control
    at = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    items = [
        {"org_id": "acme", "event_id": eid, "entity_type": "signal", "entity_id": "sig-1", "occurred_at": at}
        for eid in ("e1", "e2")
    ]
    outbox.enqueue(control, items, at)
    claim = outbox.claim(control, now=at, limit=1, worker="test")
    assert outbox.fail(control, claim.token, claim.keys[0], "boom", at, max_attempts=1) == "dead"


def test_outbox_commands_refuse_a_home_that_does_not_exist_and_leave_it_uncreated(tmp_path: Path):
    home = tmp_path / "no-such-home"
    for args in (
        ["outbox", "dead-letters", "--home", str(home), "--org", "acme"],
        ["outbox", "retry", "--home", str(home), "--org", "acme", "--all"],
    ):
        result = runner.invoke(app, args)
        assert result.exit_code == 2, args
        assert f"no home at {home}" in result.output
    assert not home.exists()


def test_outbox_dead_letters_refuses_a_home_without_a_control_store(tmp_path: Path):
    result = runner.invoke(app, ["outbox", "dead-letters", "--home", str(tmp_path), "--org", "acme"])
    assert result.exit_code == 2
    assert "run `workstream run` first" in result.output
    assert not (tmp_path / "control.sqlite").exists()


def test_outbox_dead_letters_names_the_known_orgs_when_asked_for_an_unknown_one(tmp_path: Path):
    _control_with_one_dead_letter(tmp_path)
    result = runner.invoke(app, ["outbox", "dead-letters", "--home", str(tmp_path), "--org", "acmee"])
    assert result.exit_code == 2
    assert "org 'acmee' has no outbox items" in result.output
    assert "orgs with items: acme" in result.output


def test_outbox_dead_letters_lists_a_dead_letter_and_retry_revives_it(tmp_path: Path):
    _control_with_one_dead_letter(tmp_path)
    listed = runner.invoke(app, ["outbox", "dead-letters", "--home", str(tmp_path), "--org", "acme"])
    assert listed.exit_code == 0, listed.output
    assert "dead letters of acme: 1" in listed.output and "boom" in listed.output
    retried = runner.invoke(app, ["outbox", "retry", "--home", str(tmp_path), "--org", "acme", "--all"])
    assert retried.exit_code == 0, retried.output
    assert "1 item(s) back in the queue" in retried.output
    again = runner.invoke(app, ["outbox", "dead-letters", "--home", str(tmp_path), "--org", "acme"])
    assert again.exit_code == 0
    assert "no dead letters for org acme" in again.output


def _snapshot_with_quarantine(home: Path, rows: list[tuple]) -> None:
    """A snapshot holding only `marts.quarantine`, the one table the export reads."""
    import duckdb

    home.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(home / "serving.duckdb"))
    con.execute("create schema marts")
    con.execute(
        "create table marts.quarantine "
        "(file varchar, line bigint, reason varchar, detail varchar, raw varchar, org_id varchar)"
    )
    if rows:  # (file, line, reason, detail, raw[, org_id])
        con.executemany(
            "insert into marts.quarantine values (?, ?, ?, ?, ?, ?)", [(*r, None)[:6] for r in rows]
        )
    con.close()


def test_quarantine_export_refuses_an_unknown_reason_code_and_lists_the_codes(tmp_path: Path):
    from dagster_project.contract.events import Reason

    _snapshot_with_quarantine(tmp_path, [])
    out = tmp_path / "q.jsonl"
    result = runner.invoke(
        app,
        [
            "quarantine",
            "export",
            "--all-orgs",
            "--home",
            str(tmp_path),
            "--out",
            str(out),
            "--reason",
            "NOT_A_REASON",
        ],
    )
    assert result.exit_code == 2
    assert "unknown reason code 'NOT_A_REASON'" in result.output
    assert all(code in result.output for code in Reason.all())
    assert not out.exists()


def test_quarantine_export_of_an_unreadable_snapshot_says_why_without_a_traceback(tmp_path: Path):
    (tmp_path / "serving.duckdb").write_bytes(b"not a database" * 100)
    out = tmp_path / "q.jsonl"
    result = runner.invoke(
        app, ["quarantine", "export", "--all-orgs", "--home", str(tmp_path), "--out", str(out)]
    )
    assert result.exit_code == 2, result.output
    assert "cannot read the quarantine" in result.output
    assert isinstance(result.exception, SystemExit)  # a clean exit, not an escaped DuckDB error


def test_quarantine_export_of_a_snapshot_without_a_quarantine_table_says_so(tmp_path: Path):
    import duckdb

    with duckdb.connect(str(tmp_path / "serving.duckdb")) as con:
        con.execute("create schema marts")
    out = tmp_path / "q.jsonl"
    result = runner.invoke(
        app, ["quarantine", "export", "--all-orgs", "--home", str(tmp_path), "--out", str(out)]
    )
    assert result.exit_code == 2, result.output
    assert "cannot read the quarantine" in result.output
    assert isinstance(result.exception, SystemExit)


def test_quarantine_export_says_when_a_known_reason_has_no_records(tmp_path: Path):
    _snapshot_with_quarantine(tmp_path, [("a.jsonl", 3, "bad_json", "not JSON", "{oops")])
    out = tmp_path / "q.jsonl"
    result = runner.invoke(
        app,
        [
            "quarantine",
            "export",
            "--all-orgs",
            "--home",
            str(tmp_path),
            "--out",
            str(out),
            "--reason",
            "bad_id",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "no quarantined records with reason bad_id" in result.output


def test_quarantine_export_writes_each_lines_reason_file_and_line_beside_the_records(tmp_path: Path):
    naive = orjson.dumps(event("e7", occurred_at="2026-10-05T09:14:03")).decode()
    _snapshot_with_quarantine(
        tmp_path,
        [
            ("b.csv", 0, "bad_header", "no event_id column", None),
            ("a.jsonl", 9, "bad_json", "not JSON\tat 1", "{oops"),
            ("a.jsonl", 4, "naive_timestamp", "occurred_at has no offset", naive),
        ],
    )
    out = tmp_path / "fix" / "q.jsonl"
    result = runner.invoke(
        app, ["quarantine", "export", "--all-orgs", "--home", str(tmp_path), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert out.read_text().splitlines() == [naive, "{oops"]
    side = tmp_path / "fix" / "q.reasons.tsv"
    assert f"to {side}" in result.output
    with side.open(newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    assert rows == [
        {
            "out_line": "1",
            "file": "a.jsonl",
            "line": "4",
            "reason": "naive_timestamp",
            "detail": "occurred_at has no offset",
        },
        {"out_line": "2", "file": "a.jsonl", "line": "9", "reason": "bad_json", "detail": "not JSON\tat 1"},
        {
            "out_line": "",
            "file": "b.csv",
            "line": "0",
            "reason": "bad_header",
            "detail": "no event_id column",
        },
    ]


def test_run_and_serve_refuse_a_file_given_as_the_home_without_a_traceback(tmp_path: Path):
    (tmp_path / "inbox").mkdir()
    home = tmp_path / "home.txt"
    home.write_text("not a folder")
    for args in (
        ["run", "--inbox", str(tmp_path / "inbox"), "--home", str(home)],
        ["serve", "--home", str(home)],
    ):
        result = runner.invoke(app, args)
        assert result.exit_code == 2, (args, result.output)
        assert f"home {home} is a file" in result.output
        assert result.exception is None or isinstance(result.exception, SystemExit)


def test_run_refuses_a_home_below_a_file(tmp_path: Path):
    (tmp_path / "inbox").mkdir()
    (tmp_path / "file").write_text("")
    result = _run(tmp_path / "inbox", tmp_path / "file" / "home")
    assert result.exit_code == 2
    assert f"cannot be created ({tmp_path / 'file'} is a file)" in result.output


def test_a_failed_run_exits_1_and_points_at_the_log_with_its_detail(tmp_path: Path):
    inbox, home = tmp_path / "inbox", tmp_path / "home"
    inbox.mkdir()
    home.mkdir()
    (home / "warehouse.duckdb").write_bytes(b"not a DuckDB file" * 100)  # the ingest step cannot open it
    result = _run(inbox, home, "--skip-tests")
    assert result.exit_code == 1, result.output
    log = home / "logs" / "run.log"
    assert f"the run's detail: {log}" in result.output
    assert "raw_ingest" in log.read_text()


def test_generate_into_a_path_that_is_a_file_says_so_without_a_traceback(tmp_path: Path):
    target = tmp_path / "events.jsonl"
    target.write_text("")
    result = runner.invoke(app, ["generate", "--out", str(target), "--events", "10"])
    assert result.exit_code == 2
    assert f"cannot write the event files to {target}" in result.output


def test_quarantine_export_to_a_folder_or_below_a_file_says_so_without_a_traceback(tmp_path: Path):
    _snapshot_with_quarantine(tmp_path, [("a.jsonl", 3, "bad_json", "not JSON", "{oops")])
    (tmp_path / "file").write_text("")
    for out in (tmp_path, tmp_path / "file" / "q.jsonl"):
        result = runner.invoke(
            app, ["quarantine", "export", "--all-orgs", "--home", str(tmp_path), "--out", str(out)]
        )
        assert result.exit_code == 2, (out, result.output)
        assert f"cannot write {out}" in result.output


def test_an_inbox_full_of_other_files_names_a_few_and_counts_the_rest(tmp_path: Path, capsys):
    from dagster_project.commands.run import SKIPPED_LISTED, check_inbox

    for n in range(SKIPPED_LISTED + 3):
        (tmp_path / f"note-{n:02}.txt").write_text("")
    assert len(check_inbox(tmp_path)) == SKIPPED_LISTED + 3
    lines = capsys.readouterr().err.splitlines()
    assert lines == [
        *(
            f"skipped {tmp_path / f'note-{n:02}.txt'}: not an event file (.jsonl, .jsonl.gz, .csv, .parquet)"
            for n in range(SKIPPED_LISTED)
        ),
        "skipped 3 more files of other kinds",
    ]
