"""The breach reads see the snapshot on disk now, even while this process holds an older one open."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb

from dagster_project.sla import alerts
from tests.alerts.test_alerts import _clock, _snapshot

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
H = timedelta(hours=1)


def test_read_clocks_sees_a_new_publish_while_the_old_file_is_held_open(tmp_path: Path) -> None:
    serving = _snapshot(tmp_path / "serving.duckdb", [])
    holder = duckdb.connect(str(serving), read_only=True)  # another reader in the same process
    try:
        _snapshot(serving, [_clock("s1", NOW - H)])
        breaches, _met = alerts.read_clocks(serving, NOW)
    finally:
        holder.close()
    assert [b.item_id for b in breaches] == ["s1"]


def test_why_not_alert_from_sees_a_new_publish_while_the_old_file_is_held_open(tmp_path: Path) -> None:
    serving = _snapshot(tmp_path / "serving.duckdb", [], built_at=NOW - 48 * H, published_at=NOW)
    holder = duckdb.connect(str(serving), read_only=True)
    try:
        _snapshot(serving, [], built_at=NOW, published_at=NOW)
        reason = alerts.why_not_alert_from(serving)
    finally:
        holder.close()
    assert reason is None
