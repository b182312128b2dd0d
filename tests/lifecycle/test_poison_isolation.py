"""An accepted event the apply cannot handle retries and dead-letters with its cluster alone."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta

from dagster_project.apply.runner import run_apply
from dagster_project.config.registry import DEFAULTS
from dagster_project.control import outbox, outbox_reports
from dagster_project.warehouse.store import connect

NOW = datetime(2030, 1, 1, tzinfo=UTC)
AS_OF = datetime(2026, 12, 1, tzinfo=UTC)


def test_a_poison_event_retries_then_dead_letters_with_its_cluster_while_every_other_event_applies(
    sample_warehouse, tmp_path
):
    shutil.copy(sample_warehouse, tmp_path / "w.duckdb")
    con = connect(tmp_path / "w.duckdb")
    store = tmp_path / "control.sqlite"
    org, signal = con.execute(
        "select org_id, entity_id from raw.events where event_name = 'signal.created' order by all limit 1"
    ).fetchone()
    # Written as an ingest that let a year-0 time through would have written it.
    con.execute(
        """insert into raw.events (org_id, event_id, occurred_at, event_name, entity_type, entity_id, actor,
               payload, content_hash, ingested_at, source_file, source_line)
           values ($org, 'poison-1', '0000-06-01 00:00:00+00', 'signal.touched',
           'signal', $signal, 'poison@test', '{}', 'poison-1', $now, 'poison.jsonl', 1)""",
        {"org": org, "signal": signal, "now": NOW},
    )
    total = con.execute("select count(*) from raw.events").fetchone()[0]

    first = run_apply(con, store, now=NOW, as_of=AS_OF, worker="test")

    [(name, failed)] = first.failed_clusters.items()
    assert failed.org_id == org and name == f"{org}/{failed.cluster_id}"
    # The cluster is the signal's (named after its smallest member, the candidate linking it).
    assert failed.cluster_id.split(":")[0] in ("candidate", "signal")
    assert failed.retrying == first.retrying > 0 and failed.dead_lettered == 0
    assert "time range" in failed.error
    assert first.completed == total - first.retrying
    assert {h.org_id for h in outbox_reports.health(store, NOW) if h.processed_last_hour} == set(
        r[0] for r in con.execute("select distinct org_id from raw.events").fetchall()
    )

    now = NOW
    report = first
    for _ in range(int(DEFAULTS["outbox.max_attempts"]) - 1):
        now += timedelta(minutes=int(DEFAULTS["outbox.backoff_cap_minutes"]) + 1)
        report = run_apply(con, store, now=now, as_of=AS_OF, worker="test")
    assert report.failed_clusters[name].dead_lettered == first.retrying
    assert "poison-1" in {d.event_id for d in outbox_reports.dead_letters(store, org)}
    # With the poison dead, its cluster's other events apply on their retry.
    revived = [(org, d.event_id) for d in outbox_reports.dead_letters(store, org) if d.event_id != "poison-1"]
    outbox.retry_dead(store, revived, now)
    final = run_apply(con, store, now=now, as_of=AS_OF, worker="test")
    assert final.completed == len(revived) and not final.failed_clusters
