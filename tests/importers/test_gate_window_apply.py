"""An import's gate window (`config.changed` at the start and just after the end of its history) costs
the apply no extra work: a config change re-judges every cluster of its org, so the window's events
must be applied before the imported clusters exist, not after them."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from dagster_project.apply.runner import run_apply
from dagster_project.importers.fake import fake_export
from dagster_project.importers.run import run_import
from dagster_project.importers.writing import GATE_SUFFIX
from dagster_project.ingestion.ingest import ingest_paths
from dagster_project.ingestion.readers import list_inbox
from dagster_project.warehouse.store import connect

NOW = datetime(2026, 11, 20, tzinfo=UTC)
BATCHES = 5


def _apply(inbox: Path, work: Path) -> tuple[int, int]:
    """Ingest the inbox into a fresh warehouse and apply it in several batches: (clusters re-folded over
    all batches, batches)."""
    con = connect(work / "warehouse.duckdb")
    try:
        ingest_paths(con, list_inbox(inbox, settle_seconds=0), now=NOW, inbox=inbox)
        events = con.execute("select count(*) from raw.events").fetchone()[0]
        report = run_apply(
            con, work / "control.sqlite", now=NOW, as_of=NOW, worker="test", batch_size=events // BATCHES + 1
        )
        assert not report.failed_clusters
        return report.clusters, report.batches
    finally:
        con.close()


@pytest.mark.parametrize("vendor", ["salesforce", "hubspot"])
def test_an_imports_gate_window_makes_the_apply_refold_no_cluster_a_second_time(tmp_path, vendor):
    fake_export(tmp_path / "export", vendor, rows=400, seed=5)
    run_import(vendor, tmp_path / "export", "org-a", tmp_path / "inbox", now=NOW)
    (gate,) = (tmp_path / "inbox").glob(f"*{GATE_SUFFIX}")
    (tmp_path / "with").mkdir()
    with_gate, batches = _apply(tmp_path / "inbox", tmp_path / "with")
    assert batches >= BATCHES  # the window's two ends are claimed apart unless the apply orders them

    # The same history without its window: the same clusters, each folded as its events arrive. (The
    # window's events shift the batch boundaries a little, which may split a cluster's events one way
    # or the other, but never re-folds the whole org.)
    gate.unlink()
    (tmp_path / "without").mkdir()
    without_gate, _ = _apply(tmp_path / "inbox", tmp_path / "without")
    assert with_gate <= without_gate
