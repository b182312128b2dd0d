"""`workstream run` and the runs `workstream serve` launches take turns on a home."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from dagster_project.control.run_lock import run_lock_path

HOLDER = """
import sys
from filelock import FileLock
lock = FileLock(sys.argv[1], thread_local=False)
lock.acquire()
print("held", flush=True)
sys.stdin.readline()
"""


def test_a_cli_run_waits_while_another_process_holds_the_homes_run_lock(tmp_path: Path):
    home, inbox = tmp_path / "home", tmp_path / "inbox"
    home.mkdir()
    inbox.mkdir()
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(run_lock_path(home))],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "held"
    workstream = Path(sys.executable).parent / "workstream"
    cli = subprocess.Popen(
        [str(workstream), "run", "--inbox", str(inbox), "--home", str(home), "--skip-tests"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # The run cannot end while the lock is held: it must say it waits, then wait.
        before_release = []
        for line in cli.stderr:
            before_release.append(line)
            if "waiting for the run in progress" in line:
                break
        assert any("waiting for the run in progress" in line for line in before_release), before_release
        assert cli.poll() is None
    finally:
        holder.communicate("\n")
    out, err = cli.communicate()
    # Once the lock is free the run goes on: a first run on an empty inbox, which succeeds and says so
    # (the suite's one whole run of an empty inbox: a run is the suite's dearest step).
    assert cli.returncode == 0, err
    assert f"nothing new: no event files in {inbox}" in err
    assert (home / "serving.duckdb").exists()
