"""The CLI's contract with its users: deterministic generation, clear errors, non-zero exits."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from dagster_project import cli
from dagster_project.cli import app
from dagster_project.settings import ENV_NOW

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
    line = cli._alerts_line(
        {"new_alerts": 0, "skipped": "as-of 2026-11-01T00:00:00+00:00 is earlier than the clock"}
    )
    assert line.startswith("none recorded or delivered") and "earlier than the clock" in line
    assert cli._alerts_line({"new_alerts": 3, "suppressed": 1}) == "3 new (2 active, 1 suppressed)"
