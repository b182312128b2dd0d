"""SIGKILL an apply at each named point, rerun, and get exactly what a clean run gives (also under a non-UTC TZ).

The killed apply and the clean one run as processes of their own (a SIGKILL, a TZ); the rerun only reads
what the killed one left on disk, so it runs in this process, under UTC.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from dagster_project.control import outbox
from dagster_project.control.faults import KILL_POINTS
from dagster_project.warehouse.store import connect
from tests.lifecycle import _apply_worker

# Applies killed in processes of their own: `make test` runs them, the fast lane does not.
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "data" / "sample"
NOW = "2030-01-01T00:00:00+00:00"
LATER = "2030-01-01T00:06:00+00:00"  # past the 5-minute stale-claim window
AS_OF = "2026-12-01T00:00:00+00:00"
COMPARED = (
    "signals",
    "candidates",
    "pursuits",
    "client_parts",
    "transitions",
    "rejected_events",
    "event_outcomes",
    "config_registry",
    "entity_clusters",
    "memory_atoms",
)


def _worker(home: Path, inbox: Path, now: str, *, kill_at: str | None = None, tz: str = "UTC"):
    env = {**os.environ, "TZ": tz}
    env.pop("WORKSTREAM_KILL_AT", None)
    if kill_at:
        env["WORKSTREAM_KILL_AT"] = kill_at
    return subprocess.run(
        [sys.executable, "-m", "tests.lifecycle._apply_worker", str(home), str(inbox), now, AS_OF, "300"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@contextmanager
def _utc() -> Iterator[None]:
    """This process under TZ=UTC (as `_worker`'s default), its own TZ back afterwards."""
    saved = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    try:
        yield
    finally:
        if saved is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = saved
        time.tzset()


def _rerun(home: Path, inbox: Path, now: str) -> None:
    """`_worker`'s body in this process, with no kill point: the run after the crash."""
    assert "WORKSTREAM_KILL_AT" not in os.environ
    with _utc():
        _apply_worker.main(str(home), str(inbox), now, AS_OF, "300")


def _dump(home: Path) -> dict[str, list[tuple]]:
    con = connect(home / "warehouse.duckdb", read_only=True)
    try:
        return {t: sorted(con.execute(f"select * from core.{t}").fetchall(), key=repr) for t in COMPARED}
    finally:
        con.close()


@pytest.fixture(scope="module")
def inbox(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("crash") / "inbox"
    shutil.copytree(SAMPLE, folder)
    return folder


@pytest.fixture(scope="module")
def clean(inbox, tmp_path_factory) -> dict[str, list[tuple]]:
    home = tmp_path_factory.mktemp("clean")
    done = _worker(home, inbox, NOW, tz="Asia/Kolkata")
    assert done.returncode == 0, done.stderr
    return _dump(home)


# `after_scrub` is left to tests/memory/test_governance.py: the sample's scrubs change no core row (the
# fold already applies its redactions), so only a purge there can show a lost re-fold.
@pytest.mark.parametrize("point", [p for p in KILL_POINTS if p not in ("before_publish", "after_scrub")])
def test_killed_apply_then_rerun_equals_a_clean_run(point, inbox, clean, tmp_path):
    killed = _worker(tmp_path, inbox, NOW, kill_at=point)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    _rerun(tmp_path, inbox, LATER)
    assert _dump(tmp_path) == clean
    with outbox.connect(tmp_path / "control.sqlite") as con:
        statuses = dict(con.execute("select status, count(*) from outbox_items group by 1").fetchall())
    assert set(statuses) == {"processed"}, statuses
