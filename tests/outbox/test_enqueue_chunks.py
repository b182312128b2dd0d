"""A file's events are enqueued a chunk of keys at a time, never all at once, and all of them: a first
load's file can hold millions of events."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from dagster_project.apply import runner
from dagster_project.control import outbox, outbox_reports
from dagster_project.warehouse.store import ensure_raw_schema
from tests.identity.test_contact_fold import NOW
from tests.lifecycle.timeline import config, ev, log_events


@pytest.fixture
def chunks(monkeypatch) -> list[int]:
    """The size of each chunk enqueued, with chunks of three keys."""
    sizes: list[int] = []
    real = runner._enqueue

    def counted(store, rows, now):
        sizes.append(len(rows))
        return real(store, rows, now)

    monkeypatch.setattr(runner, "ENQUEUE_CHUNK", 3)
    monkeypatch.setattr(runner, "_enqueue", counted)
    return sizes


def test_a_files_events_are_enqueued_in_chunks_and_the_missing_ones_again(tmp_path: Path, chunks):
    con = duckdb.connect()
    ensure_raw_schema(con)
    events = [ev(f"e{k}", "signal.created", f"s{k}", k) for k in range(7)]
    log_events(con, [*events, config("c1", 8, "sla.first_touch_hours", 4)])
    store = tmp_path / "control.sqlite"
    assert runner.enqueue_file_events(con, store, "f.jsonl", NOW, NOW) == 8
    assert chunks == [3, 3, 2]
    items = {r["event_id"]: r for r in outbox_reports.items(store, "acme")}
    assert sorted(items) == sorted([*(e["event_id"] for e in events), "c1"])
    # The config change is due a tick before the events it came with, whichever chunk it is in.
    assert items["c1"]["next_attempt_at"] < items["e0"]["next_attempt_at"]
    with outbox.transaction(store) as sq:
        sq.execute("delete from outbox_items where event_id in ('e1', 'e5', 'c1')")
    del chunks[:]
    assert runner.enqueue_missing(con, store, NOW) == 3 and chunks == [3]
    assert len(outbox_reports.items(store, "acme")) == 8
