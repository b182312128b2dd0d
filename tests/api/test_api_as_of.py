"""The read API can serve a past snapshot (`workstream snapshot --as-of`) instead of the live one."""

from __future__ import annotations

import os
from pathlib import Path

from typer.testing import CliRunner

from dagster_project.cli import app as cli
from tests.api.test_api import A, admin_client, publish


def _home_with_a_past_snapshot(tmp_path: Path) -> tuple[Path, Path]:
    home = tmp_path / "home"
    publish(home, version="live")
    publish(tmp_path / "past", version="past")
    past = home / "as-of" / "20261015T000000Z.duckdb"
    past.parent.mkdir()
    os.replace(tmp_path / "past" / "serving.duckdb", past)
    return home, past


def test_the_api_serves_a_past_snapshot_when_asked_and_the_live_one_otherwise(tmp_path):
    home, past = _home_with_a_past_snapshot(tmp_path)
    with admin_client(home, snapshot=past) as client:
        assert client.get("/health").json()["snapshot_version"] == "past"
        card = client.get(f"/orgs/{A}/cards/client/cl1")
        assert card.status_code == 200 and card.headers["x-snapshot-version"] == "past"
    with admin_client(home) as client:
        assert client.get("/health").json()["snapshot_version"] == "live"


def test_the_api_command_refuses_a_past_snapshot_that_does_not_exist(tmp_path):
    home, _ = _home_with_a_past_snapshot(tmp_path)
    for name in ("nope.duckdb", "../../serving.duckdb"):
        result = CliRunner().invoke(cli, ["api", "--home", str(home), "--snapshot", name])
        assert result.exit_code == 2, name
        assert "no past snapshot" in result.output
