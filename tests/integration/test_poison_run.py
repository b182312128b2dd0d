"""`workstream run` with hostile input: quarantined records and a cluster the apply cannot handle still
publish, exit 0, and the summary names what was left out."""

from __future__ import annotations

import os

import pytest
from typer.testing import CliRunner

from dagster_project.apply import batch as apply
from dagster_project.apply import fast
from dagster_project.cli import app
from dagster_project.control import outbox_reports
from tests.events_factory import event, write_jsonl

pytestmark = pytest.mark.integration


def test_a_run_with_a_poison_cluster_and_quarantined_lines_exits_0_and_names_them(tmp_path, monkeypatch):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    records = [
        event("e1", org_id="acme", entity_id="sig-1"),
        event("e2", org_id="beta", entity_id="sig-2"),
        event("e3", org_id="beta", entity_id="sig-3"),
        b"{not json",
    ]
    write_jsonl(inbox / "events.jsonl", records)
    os.utime(inbox / "events.jsonl", (1_700_000_000, 1_700_000_000))
    capture = apply.capture_atoms

    def poisoned(events, *args, **kwargs):  # the apply cannot handle beta's sig-2, whatever the reason
        if any(e["entity_id"] == "sig-2" for e in events):
            raise RuntimeError("cannot handle sig-2")
        return capture(events, *args, **kwargs)

    monkeypatch.setattr(apply, "capture_atoms", poisoned)
    # The poison is in the Python capture: keep these lone signals off the set-based path, which has none.
    select_fast = fast.select_fast
    monkeypatch.setattr(fast, "select_fast", lambda con, _registries, as_of: select_fast(con, {}, as_of))
    home = tmp_path / "home"
    args = ["run", "--inbox", str(inbox), "--home", str(home), "--as-of", "2026-12-01T00:00:00Z"]
    # dbt's data tests are beside the point here (they run in test_pipeline): the apply's poison is.
    result = CliRunner().invoke(
        app,
        [*args, "--skip-tests"],
        env={"WORKSTREAM_NOW": "2030-01-01T00:00:00Z", "COLUMNS": "240"},
    )

    assert result.exit_code == 0, result.output
    assert (home / "serving.duckdb").exists()
    assert "skipped: beta signal:sig-2" in result.output
    assert "RuntimeError: cannot handle sig-2" in result.output
    assert "bad_json" in result.output
    assert [i["status"] for i in outbox_reports.items(home / "control.sqlite", "beta")] == [
        "pending",
        "processed",
    ]
