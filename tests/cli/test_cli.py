"""The CLI's contract with its users: deterministic generation, clear errors, non-zero exits."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dagster_project.cli import app
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
        app, ["quarantine", "export", "--home", str(tmp_path), "--out", str(tmp_path / "q.jsonl")]
    )
    assert result.exit_code == 2
    assert "workstream run" in result.output


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


def test_run_lists_files_of_unknown_kinds_as_skipped_then_says_nothing_new_on_a_rerun(tmp_path: Path):
    inbox = tmp_path / "inbox"
    (inbox / "sub").mkdir(parents=True)
    write_jsonl(inbox / "a.jsonl", [event("e1"), event("e2", entity_id="sig-2")])
    (inbox / "notes.txt").write_text("not events\n")
    (inbox / "sub" / "export.xlsx").write_bytes(b"PK\x03\x04")
    (inbox / ".manifest.json").write_text("{}")
    (inbox / "b.jsonl.tmp").write_text("")
    _settled(inbox)
    home = tmp_path / "home"

    first = _run(inbox, home, "--skip-tests")
    assert first.exit_code == 0, first.output
    skipped = [line for line in first.output.splitlines() if line.startswith("skipped ")]
    assert skipped == [
        f"skipped {inbox / 'notes.txt'}: not an event file (.jsonl, .jsonl.gz, .csv, .parquet)",
        f"skipped {inbox / 'sub' / 'export.xlsx'}: not an event file (.jsonl, .jsonl.gz, .csv, .parquet)",
    ]
    assert "nothing new" not in first.output

    again = _run(inbox, home, "--skip-tests")
    assert again.exit_code == 0, again.output
    assert f"nothing new: every one of the 1 event file(s) in {inbox} was ingested before" in again.output


def test_run_on_an_empty_inbox_says_nothing_new_and_succeeds(tmp_path: Path):
    (tmp_path / "inbox").mkdir()
    result = _run(tmp_path / "inbox", tmp_path / "home", "--skip-tests")
    assert result.exit_code == 0, result.output
    assert f"nothing new: no event files in {tmp_path / 'inbox'}" in result.output
