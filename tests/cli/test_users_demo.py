"""`workstream users demo`: an admin and a viewer per org, passwords shown once, idempotent."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from dagster_project.access import authenticate_password, list_users
from dagster_project.cli import app
from dagster_project.commands.users import DEMO_ADMIN, demo_viewer
from dagster_project.settings import ENV_NOW, parse_timestamp

runner = CliRunner()
NOW = "2026-11-28T12:00:00Z"


@pytest.fixture(autouse=True)
def _pinned_clock(monkeypatch):
    monkeypatch.setenv(ENV_NOW, NOW)


def _snapshot(home: Path, event_orgs: list[str], ledger_orgs: list[str]) -> None:
    home.mkdir(parents=True, exist_ok=True)
    path = home / "serving.duckdb"
    path.unlink(missing_ok=True)
    with duckdb.connect(str(path)) as con:
        con.execute("create schema marts")
        con.execute("create table marts.event_volume_daily (org_id varchar)")
        con.execute("create table marts.ingest_ledger_by_org (org_id varchar)")
        con.executemany(
            "insert into marts.event_volume_daily values (?)", [(o,) for o in [*event_orgs, None]]
        )
        con.executemany(
            "insert into marts.ingest_ledger_by_org values (?)", [(o,) for o in [*ledger_orgs, None]]
        )


def _logins(stdout: str) -> dict[str, str]:
    """email -> password from the demo's summary lines."""
    rows = [line.split() for line in stdout.splitlines() if line.startswith("  ")]
    return {row[1]: row[2] for row in rows}


def test_the_demo_creates_an_admin_and_one_viewer_per_org_whose_passwords_log_in(tmp_path: Path) -> None:
    _snapshot(tmp_path, ["acme-corp", "globex"], ["globex", "initech"])
    result = runner.invoke(app, ["users", "demo", "--home", str(tmp_path)])
    assert result.exit_code == 0, result.output
    logins = _logins(result.stdout)
    orgs = ["acme-corp", "globex", "initech"]
    assert set(logins) == {DEMO_ADMIN, *(demo_viewer(o) for o in orgs)}
    now = parse_timestamp(NOW)
    admin = authenticate_password(tmp_path, DEMO_ADMIN, logins[DEMO_ADMIN], now=now)
    assert admin.reason == "ok" and admin.principal.is_admin
    for org in orgs:
        viewer = authenticate_password(
            tmp_path, demo_viewer(org), logins[demo_viewer(org)], now=now
        ).principal
        assert viewer.readable_orgs(orgs) == [org] and not viewer.can_govern(org)
    assert len(set(logins.values())) == len(logins)  # generated, not one shared password


def test_a_second_demo_run_says_the_logins_exist_and_prints_no_password(tmp_path: Path) -> None:
    _snapshot(tmp_path, ["acme-corp"], [])
    first = runner.invoke(app, ["users", "demo", "--home", str(tmp_path)])
    before = list_users(tmp_path)
    second = runner.invoke(app, ["users", "demo", "--home", str(tmp_path)])
    assert second.exit_code == 0
    assert second.stdout == "" and "exist already" in second.stderr
    for password in _logins(first.stdout).values():
        assert password not in second.output
    assert list_users(tmp_path) == before


def test_a_new_org_gets_its_viewer_on_the_next_demo_run(tmp_path: Path) -> None:
    _snapshot(tmp_path, ["acme-corp"], [])
    runner.invoke(app, ["users", "demo", "--home", str(tmp_path)])
    _snapshot(tmp_path, ["acme-corp", "hooli"], [])
    result = runner.invoke(app, ["users", "demo", "--home", str(tmp_path)])
    assert set(_logins(result.stdout)) == {demo_viewer("hooli")}


def test_the_demo_without_a_snapshot_says_to_run_first(tmp_path: Path) -> None:
    result = runner.invoke(app, ["users", "demo", "--home", str(tmp_path)])
    assert result.exit_code == 2 and "workstream run" in result.stderr
    assert not (tmp_path / "control.sqlite").exists()
