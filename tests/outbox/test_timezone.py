"""T10: the process time zone (`TZ`) and the zone the clock is written in change nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _run(tmp_path: Path, tz: str) -> dict:
    folder = tmp_path / tz.replace("/", "_")
    folder.mkdir()
    env = os.environ | {"TZ": tz}
    done = subprocess.run(
        [sys.executable, "-m", "tests.outbox._tz_scenario", str(folder)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(done.stdout)


def test_same_results_in_utc_and_new_york(tmp_path: Path) -> None:
    utc = _run(tmp_path, "UTC")
    ny = _run(tmp_path, "America/New_York")
    assert utc == ny
    # and the DST fall-back did not make a 4-minute-old claim look stale (nor a 6-minute one fresh)
    assert utc["recover_4min"] == [] and utc["recover_5min"] == []
    assert utc["recover_6min"] == [["acme", f"e{i:03d}"] for i in range(3)]
    assert utc["late_complete"] == []
    assert all(r["occurred_at"] == "2026-11-01T01:00:00.000000Z" for r in utc["items"])
    statuses = {r["status"] for r in utc["items"] if r["org_id"] == "globex"}
    assert statuses <= {"processed", "dead"} and "processed" in statuses


def test_zoned_clock_arithmetic_is_real_time(tmp_path: Path) -> None:
    """A clock written in New York across the fall-back: backoff and windows are real minutes."""
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    from dagster_project.control import outbox, outbox_reports

    from .conftest import make_items

    ny = ZoneInfo("America/New_York")
    db = tmp_path / "control.sqlite"
    before = datetime(2026, 11, 1, 1, 30, tzinfo=ny)  # 05:30Z, EDT
    outbox.enqueue(db, make_items(1), before)
    claim = outbox.claim(db, now=before, limit=1, worker="w")
    outbox.fail(db, claim.token, claim.keys[0], "x", before, max_attempts=8, cap_minutes=60)
    # due one real minute later, 05:31Z, however the zone spells it
    assert outbox_reports.items(db, "acme")[0]["next_attempt_at"] == "2026-11-01T05:31:00.000000Z"
    # (compare in UTC: PEP 495 makes inter-zone == false for an ambiguous wall time)
    assert outbox.from_text("2026-11-01T05:31:00.000000Z") == datetime(
        2026, 11, 1, 1, 31, tzinfo=ny
    ).astimezone(UTC)
    # an hour of real time later the wall clock reads 01:30 again (EST); health sees 3600 s, not 0
    after = datetime(2026, 11, 1, 1, 30, fold=1, tzinfo=ny)
    assert after.astimezone(UTC) == datetime(2026, 11, 1, 6, 30, tzinfo=UTC)
    assert outbox_reports.health(db, after)[0].oldest_pending_age_s == 3600.0
