"""`workstream run` on the console: a bar per step and the summary; the detail in its log file."""

from __future__ import annotations

import io
import os
import re
from pathlib import Path

from typer.testing import CliRunner

from dagster_project.cli import app
from dagster_project.defs.transform import workstream_dbt_assets
from tests.events_factory import event, write_jsonl

runner = CliRunner()
# What dagster-dbt echoes for every dbt model and test, e.g. "12 of 42 OK created sql table model …".
DBT_PROGRESS = re.compile(r"^\d+ of \d+ (START|OK|PASS)", re.MULTILINE)


def test_run_shows_a_bar_per_step_and_keeps_dbts_detail_in_its_log_unless_verbose(tmp_path: Path):
    """Two runs of one inbox, the second with nothing new. A pipeline run is the suite's dearest step,
    so these two also show what the console says of files that are not events and of a rerun."""
    inbox, home = tmp_path / "inbox", tmp_path / "home"
    (inbox / "sub").mkdir(parents=True)
    write_jsonl(inbox / "a.jsonl", [event("e1"), event("e2", entity_id="sig-2")])
    # Files of other kinds are listed as skipped; dot files and `.tmp` files (still being written)
    # are not event files either, and the inbox passes over them without a word.
    (inbox / "notes.txt").write_text("not events\n")
    (inbox / "sub" / "export.xlsx").write_bytes(b"PK\x03\x04")
    (inbox / ".manifest.json").write_text("{}")
    (inbox / "b.jsonl.tmp").write_text("")
    for path in inbox.rglob("*"):
        os.utime(path, (0, 0))  # long settled: the ingest takes them now

    quiet = runner.invoke(app, ["run", "--inbox", str(inbox), "--home", str(home), "--skip-tests"])
    assert quiet.exit_code == 0, quiet.output
    skipped = [line for line in quiet.output.splitlines() if line.startswith("skipped ")]
    assert skipped == [
        f"skipped {inbox / 'notes.txt'}: not an event file (.jsonl, .jsonl.gz, .csv, .parquet)",
        f"skipped {inbox / 'sub' / 'export.xlsx'}: not an event file (.jsonl, .jsonl.gz, .csv, .parquet)",
    ]
    assert "nothing new" not in quiet.output
    assert not DBT_PROGRESS.search(quiet.output)
    models = len(workstream_dbt_assets.keys)
    bars = {
        line.split()[0] + (" build" if line.startswith("dbt build") else "")
        for line in quiet.output.splitlines()
        if "━" in line
    }
    assert {"ingest", "apply", "scoring", "dbt build", "publish"} <= bars, quiet.output
    assert f"{models}/{models}" in quiet.output
    log = home / "logs" / "run.log"
    assert DBT_PROGRESS.search(log.read_text())
    assert str(log) in quiet.output

    verbose = runner.invoke(
        app, ["run", "--inbox", str(inbox), "--home", str(home), "--skip-tests", "--verbose"]
    )
    assert verbose.exit_code == 0, verbose.output
    assert DBT_PROGRESS.search(verbose.output)
    assert "━" not in verbose.output
    assert log.read_text().count("==== dbt build: run ") == 2
    assert f"nothing new: every one of the 1 event file(s) in {inbox} was ingested before" in verbose.output


class _BrokenEventLog:
    """An instance whose event log cannot be read (a locked or damaged store)."""

    def get_records_for_run(self, *args, **kwargs):
        raise OSError("the event log cannot be read")


def test_a_progress_display_that_cannot_read_the_event_log_never_fails_the_run(tmp_path: Path):
    from rich.console import Console

    from dagster_project.commands.run_display import RunDisplay

    display = RunDisplay(tmp_path / "run.log", Console(file=io.StringIO()), verbose=False)
    ran = []
    with display.job(_BrokenEventLog(), "run-1", "dbt build", {"workstream_dbt_assets": 3}):
        ran.append(True)
    assert ran == [True]
    assert "==== dbt build: run run-1" in (tmp_path / "run.log").read_text()
