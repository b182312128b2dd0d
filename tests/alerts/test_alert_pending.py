"""The set-based alert decision (DuckDB picks the clocks with an alert to record) against the full one
(every clock read into Python, every id hashed there), on generated clocks and alert logs."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from dagster_project.sla import alerts, pending

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
ITEM_IDS = ("s-1", "pursuit/ä", "O'Brien", "名前", "x" * 40, "")


def _warehouse(path: Path, clocks: list[tuple]) -> None:
    con = duckdb.connect(str(path))
    con.execute("SET TimeZone = 'UTC'")
    con.execute("create schema if not exists marts")
    con.execute("drop table if exists marts.sla_clocks")
    con.execute(
        "create table marts.sla_clocks (org_id varchar, item_type varchar, item_id varchar, metric varchar, "
        "started_at timestamptz, deadline_at timestamptz, stopped_at timestamptz)"
    )
    con.executemany("insert into marts.sla_clocks values (?, ?, ?, ?, ?, ?, ?)", clocks)
    con.close()


def _clocks(rng: random.Random, n: int) -> list[tuple]:
    clocks = []
    for i in range(n):
        # Deadlines on either side of now, some with microseconds, some at whole seconds.
        deadline = NOW + timedelta(
            minutes=rng.randint(-3000, 600), microseconds=rng.choice([0, rng.randint(1, 999_999)])
        )
        stop = rng.choice(
            [
                None,
                None,
                deadline,
                deadline - timedelta(minutes=rng.randint(1, 90)),
                deadline + timedelta(seconds=rng.randint(1, 9000)),
            ]
        )
        clocks.append(
            (
                rng.choice(["acme", "globex", "ümlaut-org"]),
                rng.choice(["signal", "candidate", "pursuit"]),
                f"{rng.choice(ITEM_IDS)}{i}",
                rng.choice(["triage", "first_touch", "proposal"]),
                deadline - timedelta(hours=24),
                deadline,
                stop,
            )
        )
    return clocks


def _full(warehouse: Path, con, now: datetime) -> list[tuple[str, alerts.Breach]]:
    breaches, met = alerts.read_build_clocks(warehouse, now)
    return alerts.pending_alerts(con, breaches, met)


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_the_set_based_decision_gives_the_alerts_a_full_evaluation_gives_over_runs(tmp_path, seed):
    rng = random.Random(seed)
    warehouse = tmp_path / "warehouse.duckdb"
    clocks = _clocks(rng, 300)
    now = NOW
    with alerts.connect_path(tmp_path / "control.sqlite") as con:
        for _ in range(4):
            _warehouse(warehouse, clocks)
            expected = _full(warehouse, con, now)
            assert pending.pending_from_build(warehouse, now, con) == expected
            assert expected  # each run has something to decide
            # Record part of them (an alert run that stopped early leaves the rest for the next one).
            alerts.record(con, expected[: len(expected) * 2 // 3], now=now, sinks=["table"])
            # Late stops arrive (retractions), some clocks are met late, new clocks open; time passes.
            for k in rng.sample(range(len(clocks)), 60):
                org, kind, item, metric, start, deadline, _ = clocks[k]
                clocks[k] = (
                    org,
                    kind,
                    item,
                    metric,
                    start,
                    deadline,
                    deadline - timedelta(minutes=rng.randint(0, 30)),
                )
            clocks += _clocks(rng, 40)
            now += timedelta(hours=rng.randint(1, 30))


def test_the_sensor_side_decision_counts_the_breaches_crossed_since_its_last_tick(tmp_path):
    rng = random.Random(9)
    clocks = _clocks(rng, 200)
    _warehouse(tmp_path / "serving.duckdb", clocks)
    since = NOW - timedelta(hours=10)
    breaches, _ = alerts.read_clocks(tmp_path / "serving.duckdb", NOW)
    found = pending.pending_from_snapshot(tmp_path / "serving.duckdb", NOW, None, since)
    assert found.crossed == sum(1 for b in breaches if b.breached_at > since) > 0
    assert found.todo == sorted(
        (("breach", b) for b in breaches),
        key=lambda kb: (kb[1].org_id, kb[1].breached_at, kb[1].item_id, kb[1].metric, kb[0]),
    )
