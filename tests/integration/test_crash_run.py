"""A whole `workstream run` SIGKILLed mid-apply and before publishing, then rerun: the same marts as a clean run."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from dagster_project.cli import app
from tests.shared_homes import SAMPLE_NOW, sample_home

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "data" / "sample"
# The clock and as-of of the session's sample home (tests/shared_homes.py), whose marts are the clean
# run's: a clean run of the same inbox is built once per session, not once more here.
NOW = AS_OF = SAMPLE_NOW
LATER = "2026-11-28T12:06:00+00:00"  # past the 5-minute stale-claim window
MARTS = (
    "signals",
    "candidates",
    "pursuits",
    "clients",
    "transitions",
    "rejected_events",
    "config_registry",
    "funnel_velocity",
    "gate_pass_rates",
    "win_loss",
)


def _run(home: Path, inbox: Path, now: str, kill_at: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "WORKSTREAM_NOW": now}
    env.pop("WORKSTREAM_KILL_AT", None)
    if kill_at:
        env["WORKSTREAM_KILL_AT"] = kill_at
    cli = Path(sys.executable).parent / "workstream"
    return subprocess.run(
        # dbt's data tests are beside the point here (they run in test_pipeline): compare the marts only.
        [str(cli), "run", "--inbox", str(inbox), "--home", str(home), "--as-of", AS_OF, "--skip-tests"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def _rerun(home: Path, inbox: Path, now: str):
    """The same command in this process: only a run that is to be killed needs a process of its own, and
    this one's imports are already paid for."""
    args = ["run", "--inbox", str(inbox), "--home", str(home), "--as-of", AS_OF, "--skip-tests"]
    return CliRunner().invoke(app, args, env={"WORKSTREAM_NOW": now, "WORKSTREAM_KILL_AT": None})


def _marts(home: Path) -> dict[str, list[tuple]]:
    con = duckdb.connect(str(home / "serving.duckdb"), read_only=True)
    try:
        return {m: con.execute(f"select * from marts.{m} order by all").fetchall() for m in MARTS}
    finally:
        con.close()


@pytest.fixture(scope="module")
def inbox(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("inbox") / "inbox"
    shutil.copytree(SAMPLE, folder)
    for path in folder.iterdir():
        os.utime(path, (1_700_000_000, 1_700_000_000))
    return folder


@pytest.fixture(scope="module")
def clean_marts(tmp_path_factory) -> dict[str, list[tuple]]:
    """The marts of a run nothing interrupted (the shared sample home, only read here): what every
    rerun after a kill must publish."""
    return _marts(sample_home(tmp_path_factory))


def test_killed_runs_then_a_rerun_publish_what_a_clean_run_does(inbox, clean_marts, tmp_path):
    home = tmp_path / "crashed"
    killed = _run(home, inbox, NOW, kill_at="after_apply")
    assert killed.returncode == -signal.SIGKILL, killed.stdout + killed.stderr
    assert not (home / "serving.duckdb").exists()
    killed = _run(home, inbox, LATER, kill_at="before_publish")
    assert killed.returncode == -signal.SIGKILL, killed.stdout + killed.stderr
    rerun = _rerun(home, inbox, LATER)
    assert rerun.exit_code == 0, rerun.output
    assert _marts(home) == clean_marts


def test_a_rerun_within_the_stale_window_reclaims_a_killed_runs_claims(inbox, clean_marts, tmp_path):
    home = tmp_path / "crashed"
    killed = _run(home, inbox, NOW, kill_at="after_claim")
    assert killed.returncode == -signal.SIGKILL, killed.stdout + killed.stderr
    # The same instant: the killed run's claims are not stale, yet no run is left to complete them.
    rerun = _rerun(home, inbox, NOW)
    assert rerun.exit_code == 0, rerun.output
    assert _marts(home) == clean_marts
