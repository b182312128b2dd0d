"""`workstream run` on the console (a bar per step, the summary; the detail in its log file) and the
process environment it leaves as it was."""

from __future__ import annotations

import io
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

from dagster_project.cli import app
from dagster_project.defs.transform import workstream_dbt_assets
from tests.events_factory import event, write_jsonl

runner = CliRunner()
# What dagster-dbt echoes for every dbt model and test, e.g. "12 of 42 OK created sql table model …".
DBT_PROGRESS = re.compile(r"^\d+ of \d+ (START|OK|PASS)", re.MULTILINE)


@dataclass(frozen=True)
class TwoRuns:
    inbox: Path
    home: Path
    decoy: Path
    quiet: Result
    verbose: Result
    environment_changed: dict[str, tuple[str | None, str | None]]


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: pytest.TempPathFactory) -> TwoRuns:
    """`workstream run` twice on one inbox, in this process: quiet, then verbose with nothing new.

    A pipeline run is the suite's dearest step: these two serve the console's bars and log, its word on
    skipped files and on a rerun, and the environment a run leaves behind. The inbox holds a file of
    events (two of its lines bad) beside files of other kinds (listed as skipped) and a dot file and a `.tmp` file (still being
    written), which the inbox passes over without a word. Decoys in the environment: a run that still
    found its home, inbox or Dagster instance through it would write there instead."""
    root = tmp_path_factory.mktemp("run-output")
    inbox, home, decoy = root / "inbox", root / "home", root / "decoy"
    (inbox / "sub").mkdir(parents=True)
    write_jsonl(inbox / "a.jsonl", [event("e1"), event("e2", entity_id="sig-2")])
    with (inbox / "a.jsonl").open("a") as handle:  # two bad lines, 3 and 4: to be named, not lost
        handle.write('{"event_id": "e3", not json\n')
        handle.write(json.dumps(event("e4", entity_id="sig-4", occurred_at="2026-11-20T10:00:00")) + "\n")
    (inbox / "notes.txt").write_text("not events\n")
    (inbox / "sub" / "export.xlsx").write_bytes(b"PK\x03\x04")
    (inbox / ".manifest.json").write_text("{}")
    (inbox / "b.jsonl.tmp").write_text("")
    for path in inbox.rglob("*"):
        os.utime(path, (0, 0))  # long settled: the ingest takes them now
    with pytest.MonkeyPatch.context() as env:
        env.setenv("WORKSTREAM_HOME", str(decoy / "home"))
        env.setenv("WORKSTREAM_INBOX", str(decoy / "inbox"))
        env.setenv("DAGSTER_HOME", str(decoy / "dagster"))
        # dbt's base profile reads its warehouse from here: a run's dbt must use its home's profile.
        env.setenv("WORKSTREAM_WAREHOUSE", str(decoy / "warehouse.duckdb"))
        # polars and pandera set variables of their own when first imported: imported first, so what
        # is compared is what the run does, not which test of the session imported them first.
        import dagster_project.definitions  # noqa: F401
        import dagster_project.ingestion.validation  # noqa: F401

        before = dict(os.environ)
        quiet = runner.invoke(app, ["run", "--inbox", str(inbox), "--home", str(home), "--skip-tests"])
        after = dict(os.environ)
        verbose = runner.invoke(
            app, ["run", "--inbox", str(inbox), "--home", str(home), "--skip-tests", "--verbose"]
        )
    changed = {key: (before.get(key), after.get(key)) for key in before.keys() | after.keys()}
    return TwoRuns(
        inbox, home, decoy, quiet, verbose, {key: pair for key, pair in changed.items() if pair[0] != pair[1]}
    )


def test_run_shows_a_bar_per_step_and_keeps_dbts_detail_in_its_log_unless_verbose(two_runs: TwoRuns):
    quiet, verbose = two_runs.quiet, two_runs.verbose
    assert quiet.exit_code == 0, quiet.output
    assert not DBT_PROGRESS.search(quiet.output)
    models = len(workstream_dbt_assets.keys)
    bars = {
        line.split()[0] + (" build" if line.startswith("dbt build") else "")
        for line in quiet.output.splitlines()
        if "━" in line
    }
    assert {"ingest", "apply", "scoring", "dbt build", "publish"} <= bars, quiet.output
    assert f"{models}/{models}" in quiet.output
    log = two_runs.home / "logs" / "run.log"
    assert DBT_PROGRESS.search(log.read_text())
    assert str(log) in quiet.output

    assert verbose.exit_code == 0, verbose.output
    assert DBT_PROGRESS.search(verbose.output)
    assert "━" not in verbose.output
    assert log.read_text().count("==== dbt build: run ") == 2


def test_run_names_each_quarantined_line_by_file_line_and_reason_and_where_to_fix_them(two_runs: TwoRuns):
    first, again = two_runs.quiet.output, two_runs.verbose.output
    assert "a.jsonl line 3: bad_json" in first and "a.jsonl line 4: naive_timestamp" in first, first
    assert "workstream quarantine export" in first
    # In the run's log too (under `serve`, dagster.log), and only for the files a run ingests.
    assert "quarantined a.jsonl line 4: naive_timestamp" in (two_runs.home / "logs" / "run.log").read_text()
    assert "quarantined lines" not in again


def test_run_lists_files_of_unknown_kinds_as_skipped_then_says_nothing_new_on_a_rerun(two_runs: TwoRuns):
    inbox, first, again = two_runs.inbox, two_runs.quiet, two_runs.verbose
    assert first.exit_code == 0, first.output
    skipped = [line for line in first.output.splitlines() if line.startswith("skipped ")]
    assert skipped == [
        f"skipped {inbox / 'notes.txt'}: not an event file (.jsonl, .jsonl.gz, .csv, .parquet)",
        f"skipped {inbox / 'sub' / 'export.xlsx'}: not an event file (.jsonl, .jsonl.gz, .csv, .parquet)",
    ]
    assert "nothing new" not in first.output

    assert again.exit_code == 0, again.output
    assert f"nothing new: every one of the 1 event file(s) in {inbox} was ingested before" in again.output


def test_a_run_called_in_process_leaves_the_environment_as_it_was_and_uses_the_home_it_was_given(
    two_runs: TwoRuns,
):
    result, home = two_runs.quiet, two_runs.home
    assert result.exit_code == 0, result.output
    assert not two_runs.environment_changed, two_runs.environment_changed
    assert "accepted" in result.output and (home / "serving.duckdb").is_file()
    # The run's history belongs in the home's instance, where `dagster dev` shows it: both runs.
    import dagster as dg

    with dg.DagsterInstance.local_temp(tempdir=str(home / "dagster")) as instance:
        runs = instance.get_run_records(dg.RunsFilter(job_name="ingest_build_publish_job"))
    assert [r.dagster_run.status for r in runs] == [dg.DagsterRunStatus.SUCCESS] * 2
    assert not two_runs.decoy.exists()
    # dbt built the home's warehouse (its configuration, not the environment): every event served.
    import duckdb

    with duckdb.connect(str(home / "serving.duckdb"), read_only=True) as con:
        (served,) = con.execute("select count(*) from marts.events").fetchone()
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        (raw,) = con.execute("select count(*) from raw.events").fetchone()
    assert served == raw > 0


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


def test_a_build_stopped_by_an_incremental_marts_changed_columns_says_to_run_a_full_refresh_once(capsys):
    from types import SimpleNamespace

    import typer

    from dagster_project.commands.run import SCHEMA_CHANGED, _fail_on_errors

    def failed(text: str) -> SimpleNamespace:
        cause = SimpleNamespace(message=f"Compilation Error\n  The source and target {text}!", cause=None)
        error = SimpleNamespace(message="The dbt CLI process failed", cause=cause)
        event = SimpleNamespace(
            is_failure=True,
            step_key="workstream_dbt_assets",
            message='Execution of step "workstream_dbt_assets" failed.',
            event_specific_data=SimpleNamespace(error=error),
        )
        run_failure = SimpleNamespace(
            is_failure=True, step_key=None, message="run failed", event_specific_data=None
        )
        return SimpleNamespace(success=False, all_events=[event, run_failure])

    for text, hinted in ((SCHEMA_CHANGED, True), ("tables do not exist", False)):
        with pytest.raises(typer.Exit) as exit_:
            _fail_on_errors(failed(text))
        assert exit_.value.exit_code == 1
        err = capsys.readouterr().err
        assert 'Execution of step "workstream_dbt_assets" failed.' in err
        assert ("workstream run --full-refresh" in err) is hinted, err
