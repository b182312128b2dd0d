"""`workstream import salesforce|hubspot`: summary, report, exit codes."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dagster_project.cli import app
from dagster_project.settings import ENV_NOW

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "crm"
runner = CliRunner()


@pytest.fixture(autouse=True)
def _frozen_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_NOW, "2026-12-01T00:00:00Z")


def test_an_import_prints_a_summary_and_writes_the_report_next_to_the_inbox(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    args = ["import", "hubspot", "--from", str(FIXTURES / "hubspot"), "--org", "acme", "--out", str(inbox)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "one outcome per row" in result.output and "engagement_meeting" in result.output
    report = tmp_path / "inbox.import-hubspot-acme.report.csv"
    with report.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert rows and {r["outcome"] for r in rows} <= {"mapped", "skipped", "unmapped"}
    assert all(p.name.startswith("import-hubspot-acme-") for p in inbox.iterdir())


def test_object_files_absent_from_the_export_are_reported_and_the_import_succeeds(tmp_path: Path) -> None:
    src = tmp_path / "export"
    src.mkdir()
    (src / "Account.csv").write_text("Id,Name,CreatedDate\n001A,Acme,2024-01-02T09:00:00Z\n")
    report = tmp_path / "report.csv"
    args = ["import", "salesforce", "--from", str(src), "--org", "acme", "--out", str(tmp_path / "in")]
    result = runner.invoke(app, [*args, "--report", str(report)])
    assert result.exit_code == 0, result.output
    assert "absent from the export" in result.output and "opportunity" in result.output
    with report.open(newline="") as handle:
        absent = [r["object"] for r in csv.DictReader(handle) if r["outcome"] == "absent"]
    assert "opportunity_history" in absent and "account" not in absent


@pytest.mark.parametrize("vendor", ["salesforce", "hubspot"])
def test_an_export_with_nothing_to_import_reports_every_object_absent_and_writes_no_file(
    tmp_path: Path, vendor: str
) -> None:
    src, inbox, report = tmp_path / "export", tmp_path / "in", tmp_path / "report.csv"
    src.mkdir()
    args = [
        "import",
        vendor,
        "--from",
        str(src),
        "--org",
        "acme",
        "--out",
        str(inbox),
        "--report",
        str(report),
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    with report.open(newline="") as handle:
        assert {r["outcome"] for r in csv.DictReader(handle)} == {"absent"}
    assert not [p for p in inbox.iterdir() if not p.name.startswith(".")]


def test_an_unreadable_export_folder_exits_2_with_a_clear_message(tmp_path: Path) -> None:
    args = [
        "import",
        "salesforce",
        "--from",
        str(tmp_path / "nope"),
        "--org",
        "acme",
        "--out",
        str(tmp_path / "in"),
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert "cannot read the export folder" in result.output
    assert "Traceback" not in result.output


def test_a_report_inside_the_inbox_exits_2(tmp_path: Path) -> None:
    inbox = tmp_path / "in"
    args = [
        "import",
        "salesforce",
        "--from",
        str(FIXTURES / "salesforce"),
        "--org",
        "acme",
        "--out",
        str(inbox),
    ]
    result = runner.invoke(app, [*args, "--report", str(inbox / "report.csv")])
    assert result.exit_code == 2
    assert "inside the inbox" in result.output


def test_the_import_commands_are_there_when_the_cli_runs_as_a_module() -> None:
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "dagster_project.cli", "import", "--help"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "salesforce" in done.stdout and "hubspot" in done.stdout
