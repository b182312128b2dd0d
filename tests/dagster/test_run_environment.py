"""A pipeline run configured for a home leaves the process environment as it found it."""

from __future__ import annotations

import os
from datetime import UTC, datetime

import dagster as dg
import duckdb
import pytest

from dagster_project.definitions import defs
from dagster_project.defs.automation import ingest_build_publish_job
from dagster_project.generator import generate

pytestmark = pytest.mark.integration

END = datetime(2026, 11, 27, 17, 0, tzinfo=UTC)


def test_a_build_reaches_its_homes_warehouse_without_writing_the_environment(tmp_path, monkeypatch):
    """The run's home is configuration: dbt finds the warehouse through it, and nothing is left in
    `os.environ` for a later run of another home in this process to inherit."""
    monkeypatch.delenv("WORKSTREAM_WAREHOUSE", raising=False)
    inbox, home = tmp_path / "inbox", tmp_path / "home"
    generate(inbox, orgs=1, events=200, seed=5, bad_rate=0.0, end=END)
    for path in inbox.iterdir():
        os.utime(path, (1_700_000_000, 1_700_000_000))
    before = dict(os.environ)
    run_config = {
        "resources": {
            "workstream": {"config": {"home": str(home), "inbox": str(inbox)}},
            "clock": {"config": {"as_of": END.isoformat(), "now": END.isoformat()}},
        }
    }
    with dg.DagsterInstance.ephemeral() as instance:
        result = defs.resolve_job_def(ingest_build_publish_job.name).execute_in_process(
            run_config=run_config, instance=instance, raise_on_error=False
        )
    assert result.success, [e.message for e in result.all_events if e.is_failure]
    assert dict(os.environ) == before
    with duckdb.connect(str(home / "serving.duckdb"), read_only=True) as con:
        (served,) = con.execute("select count(*) from marts.events").fetchone()
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        (raw,) = con.execute("select count(*) from raw.events").fetchone()
    assert served == raw > 0
