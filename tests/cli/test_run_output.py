"""`workstream run` on the console: a bar per step and the summary; the detail in its log file."""

from __future__ import annotations

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
    inbox, home = tmp_path / "inbox", tmp_path / "home"
    inbox.mkdir()
    write_jsonl(inbox / "a.jsonl", [event("e1"), event("e2", entity_id="sig-2")])
    os.utime(inbox / "a.jsonl", (0, 0))  # long settled: the ingest takes it now

    quiet = runner.invoke(app, ["run", "--inbox", str(inbox), "--home", str(home), "--skip-tests"])
    assert quiet.exit_code == 0, quiet.output
    assert not DBT_PROGRESS.search(quiet.output)
    models = len(workstream_dbt_assets.keys)
    bars = {
        line.split()[0] + (" build" if line.startswith("dbt build") else "")
        for line in quiet.output.splitlines()
        if "━" in line
    }
    assert {"ingest", "apply", "dbt build", "publish"} <= bars, quiet.output
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
