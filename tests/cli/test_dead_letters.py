"""`workstream outbox dead-letters` lists what an apply gave up on, however odd the event."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from typer.testing import CliRunner

from dagster_project.cli import app
from dagster_project.control import outbox
from dagster_project.settings import HomePaths

NOW = datetime(2030, 1, 1, tzinfo=UTC)


def test_dead_letters_of_an_event_dated_year_zero_are_listed(tmp_path: Path):
    control = HomePaths(tmp_path).ensure().control
    item = {
        "org_id": "acme",
        "event_id": "poison-1",
        "entity_type": "signal",
        "entity_id": "sig-1",
        "occurred_at": "0000-06-01T00:00:00.000000Z",  # as the warehouse writes such a time
    }
    outbox.enqueue(control, [item], NOW)
    claim = outbox.claim(control, now=NOW, limit=1, worker="w")
    assert outbox.fail(control, claim.token, claim.keys[0], "cannot load", NOW, max_attempts=1) == "dead"

    result = CliRunner().invoke(
        app, ["outbox", "dead-letters", "--home", str(tmp_path), "--org", "acme"], env={"COLUMNS": "200"}
    )

    assert result.exit_code == 0, result.output
    assert "poison-1" in result.output and "cannot load" in result.output
