"""The Today panel, owner workload and pipeline marts (dbt/models/marts/today, marts/pipeline) on folded events.

Org `acme` (default ranking config) reproduces two worked examples of the Today-panel score end to end: cand-a (nurture,
band high, touched 80 h ago, owner ann with 4 open candidates) scores 62, pur-b (red, forecast 150 000, compliance
8.5, due in 2 days, capture lead bob with 2 open pursuits) scores 129. pur-d has an open proposal breach. Org
`initech` has the same pursuit under an effective-dated override of `ranking.pursuit_stage.red`.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest
from core_fixture import create_core_tables, fold_into_core, rows
from raw_fixture import create_raw_tables, insert_events
from test_dbt_project import run_dbt

AS_OF = "2026-03-10T12:00:00+00:00"

_counter = iter(range(1, 1000))


def _ev(org: str, at: str, name: str, entity_id: str, **payload: Any) -> dict[str, Any]:
    return {
        "org_id": org,
        "event_id": f"today-{next(_counter):03d}",
        "occurred_at": at,
        "event_name": name,
        "entity_type": "org" if name == "config.changed" else name.split(".")[0],
        "entity_id": entity_id,
        "actor": "rep@example.com",
        "payload": payload,
    }


def _big_deal(org: str) -> list[dict[str, Any]]:
    """Worked example (b): pur-b, red, forecast 150 000, compliance 8.5, due 03-12, capture lead bob."""
    return [
        _ev(org, "2026-03-08T00:00:00+00:00", "candidate.created", "cand-p", title="Big deal", owner="ann",
            tags=["gov", "it"]),
        _ev(org, "2026-03-08T01:00:00+00:00", "candidate.status_changed", "cand-p", to="triaged"),
        _ev(org, "2026-03-09T00:00:00+00:00", "candidate.promoted", "cand-p", pursuit_id="pur-b",
            capture_lead="bob", forecast_value_usd=150000, due_date="2026-03-12"),
        _ev(org, "2026-03-09T06:00:00+00:00", "pursuit.stage_changed", "pur-b", to="pink"),
        _ev(org, "2026-03-09T12:00:00+00:00", "pursuit.stage_changed", "pur-b", to="red"),
        _ev(org, "2026-03-10T08:00:00+00:00", "pursuit.updated", "pur-b", compliance_score=8.5),
    ]  # fmt: skip


ACME = [
    # worked example (a): the 4th candidate event moves cand-a to nurture 80 h before T
    _ev("acme", "2026-03-06T00:00:00+00:00", "candidate.created", "cand-a", title="Printers", owner="ann",
        value_band="high", tags=["print"]),
    _ev("acme", "2026-03-06T01:00:00+00:00", "candidate.status_changed", "cand-a", to="triaged"),
    _ev("acme", "2026-03-07T04:00:00+00:00", "candidate.status_changed", "cand-a", to="nurture"),
    _ev("acme", "2026-03-10T10:00:00+00:00", "candidate.created", "cand-b", title="Toner", owner="ann"),  # new
    _ev("acme", "2026-03-01T00:00:00+00:00", "candidate.created", "cand-c", title="Paper", owner="ann",
        value_band="med"),
    _ev("acme", "2026-03-02T04:00:00+00:00", "candidate.status_changed", "cand-c", to="triaged"),  # 200 h: stale
    _ev("acme", "2026-03-07T10:00:00+00:00", "candidate.created", "cand-d", title="Ink", owner="ann", value_band="low"),
    _ev("acme", "2026-03-07T11:00:00+00:00", "candidate.status_changed", "cand-d", to="triaged"),
    _ev("acme", "2026-03-07T13:00:00+01:00", "candidate.status_changed", "cand-d", to="on_hold"),  # exactly 72 h
    _ev("acme", "2026-03-05T00:00:00+00:00", "candidate.created", "cand-e", title="Old", owner="ann"),
    _ev("acme", "2026-03-05T01:00:00+00:00", "candidate.status_changed", "cand-e", to="archived"),
    *_big_deal("acme"),
    # pur-c: bob's second open pursuit (capture lead = the candidate's owner), overdue
    _ev("acme", "2026-03-09T05:00:00+00:00", "candidate.created", "cand-q", title="Fax", owner="bob"),
    _ev("acme", "2026-03-09T05:30:00+00:00", "candidate.status_changed", "cand-q", to="triaged"),
    _ev("acme", "2026-03-09T06:00:00+00:00", "candidate.promoted", "cand-q", pursuit_id="pur-c",
        forecast_value_usd=60000, due_date="2026-03-09"),
    _ev("acme", "2026-03-09T08:00:00+00:00", "pursuit.updated", "pur-c", compliance_score=6.0),
    # pur-d: no owner, no forecast, still in red 6 days after promotion: open proposal breach since 03-04
    _ev("acme", "2026-02-28T00:00:00+00:00", "candidate.created", "cand-r", title="Lab"),
    _ev("acme", "2026-02-28T01:00:00+00:00", "candidate.status_changed", "cand-r", to="triaged"),
    _ev("acme", "2026-03-01T00:00:00+00:00", "candidate.promoted", "cand-r", pursuit_id="pur-d"),
    _ev("acme", "2026-03-02T00:00:00+00:00", "pursuit.stage_changed", "pur-d", to="pink"),
    _ev("acme", "2026-03-03T00:00:00+00:00", "pursuit.stage_changed", "pur-d", to="red"),
    # pur-l: lost in February
    _ev("acme", "2026-02-18T00:00:00+00:00", "candidate.created", "cand-l", title="Lost one"),
    _ev("acme", "2026-02-18T01:00:00+00:00", "candidate.status_changed", "cand-l", to="triaged"),
    _ev("acme", "2026-02-20T00:00:00+00:00", "candidate.promoted", "cand-l", pursuit_id="pur-l"),
    _ev("acme", "2026-02-25T00:00:00+00:00", "pursuit.stage_changed", "pur-l", to="lost", reason_code="price"),
]  # fmt: skip
INITECH = [
    _ev("initech", "2026-03-01T00:00:00+00:00", "config.changed", "initech", key="ranking.pursuit_stage.red", value=30),
    _ev("initech", "2026-03-05T00:00:00+00:00", "config.changed", "initech", key="ranking.pursuit_stage.red", value=40),
    *_big_deal("initech"),
]  # fmt: skip


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text)


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("today")
    path = root / "warehouse.duckdb"
    with duckdb.connect(str(path)) as con:
        create_raw_tables(con)
        insert_events(con, [*ACME, *INITECH])
        create_core_tables(con)
        fold_into_core(con, [*ACME, *INITECH], as_of=AS_OF)
    run_dbt(
        ["build", "--select", "+path:models/marts/today +path:models/marts/pipeline"],
        warehouse=path,
        target=root / "target",
        as_of=AS_OF,
    )
    return path


def test_today_panel_ranks_and_worked_examples(warehouse: Path) -> None:
    got = rows(
        warehouse,
        "select item_id, rank, priority_score, priority_tier, badge, sla_metric, urgency_points, value_points, "
        "stage_points, compliance_points, workload_points from marts.today_panel where org_id = 'acme' order by rank",
    )
    assert [tuple(r.values()) for r in got] == [
        ("pur-d", 1, 130.0, "critical", "red", "proposal", 100.0, 5.0, 25.0, 0.0, 0.0),
        ("pur-b", 2, 129.0, "critical", "green", None, 50.0, 40.0, 25.0, 20.0, -6.0),  # worked example (b)
        ("pur-c", 3, 114.0, "critical", "amber", None, 75.0, 25.0, 10.0, 10.0, -6.0),
        ("cand-c", 4, 67.0, "medium", "amber", None, 50.0, 15.0, 10.0, 0.0, -8.0),
        ("cand-a", 5, 62.0, "medium", "amber", None, 25.0, 30.0, 15.0, 0.0, -8.0),  # worked example (a)
        ("cand-d", 6, 12.0, "low", "green", None, 10.0, 5.0, 5.0, 0.0, -8.0),  # touched exactly 72 h ago
        ("cand-b", 7, 2.0, "low", "green", None, 10.0, 0.0, 0.0, 0.0, -8.0),  # new: no stage points
    ]


def test_today_panel_row_details(warehouse: Path) -> None:
    got = {(r["org_id"], r["item_id"]): r for r in rows(warehouse, "select * from marts.today_panel")}
    pursuit = got[("acme", "pur-b")]
    assert pursuit["label"] == "Pursuit #pur-b: Big deal"
    assert (pursuit["item_type"], pursuit["state"], pursuit["owner"]) == ("pursuit", "red", "bob")
    assert pursuit["due_date"] == date(2026, 3, 12)
    assert pursuit["tags"] == ["gov", "it"]
    assert (pursuit["value_band"], pursuit["forecast_value_usd"]) == ("high", 150000.0)
    assert pursuit["last_touch_at"] == _at("2026-03-10T08:00:00+00:00")
    assert pursuit["hours_since_touch"] == pytest.approx(4.0)
    assert pursuit["why"] == (
        "urgency +50 (due in 2 days) · value +40 (forecast ≥ 100,000) · stage +25 (red) · "
        "compliance +20 (score ≥ 8.0) · workload −6 (2 open pursuits)"
    )
    candidate = got[("acme", "cand-a")]
    assert (candidate["label"], candidate["state"], candidate["owner"]) == ("Printers", "nurture", "ann")
    assert (candidate["due_date"], candidate["tags"], candidate["value_band"]) == (None, ["print"], "high")
    assert candidate["hours_since_touch"] == pytest.approx(80.0)
    assert candidate["why"] == (
        "urgency +25 (last touch 80 h ago) · value +30 (band high) · stage +15 (nurture) · "
        "workload −8 (4 open candidates)"
    )
    # a non-UTC event time: 13:00+01:00 is 12:00 UTC, exactly 72 h before T (not more: fresh, green)
    assert got[("acme", "cand-d")]["last_touch_at"] == _at("2026-03-07T12:00:00+00:00")
    assert got[("acme", "pur-d")]["label"] == "Pursuit #pur-d: Lab"
    assert got[("acme", "pur-d")]["owner"] is None
    # closed and archived items are not on the panel
    assert not {("acme", "cand-e"), ("acme", "cand-p"), ("acme", "pur-l")} & set(got)
    assert {r["built_at"] for r in got.values()} == {_at(AS_OF)}


def test_today_panel_uses_the_ranking_config_in_force(warehouse: Path) -> None:
    # initech's red stage: 30 from 03-01, 40 from 03-05 (in force at T); bob has one open pursuit there
    (row,) = rows(warehouse, "select * from marts.today_panel where org_id = 'initech'")
    assert (row["item_id"], row["rank"], row["stage_points"], row["workload_points"]) == (
        "pur-b",
        1,
        40.0,
        -3.0,
    )
    assert (row["priority_score"], row["priority_tier"]) == (147.0, "critical")
    assert "stage +40 (red)" in row["why"] and "workload −3 (1 open pursuit)" in row["why"]


def test_owner_workload(warehouse: Path) -> None:
    got = rows(
        warehouse,
        "select org_id, owner, total_items, critical_items, high_items, medium_items, low_items, "
        "avg_priority_score, sla_breaches, at_risk_items, stale_items, max_hours_without_touch "
        "from marts.owner_workload order by org_id, owner",
    )
    assert [tuple(r.values()) for r in got] == [
        ("acme", "ann", 4, 0, 0, 2, 2, pytest.approx((67 + 62 + 12 + 2) / 4), 0, 2, 1, pytest.approx(200.0)),
        ("acme", "bob", 2, 2, 0, 0, 0, pytest.approx((129 + 114) / 2), 0, 1, 0, pytest.approx(28.0)),
        ("initech", "bob", 1, 1, 0, 0, 0, pytest.approx(147.0), 0, 0, 0, pytest.approx(4.0)),
    ]


def test_pipeline_health(warehouse: Path) -> None:
    got = rows(
        warehouse,
        "select stage, open_pursuits, open_value_usd, p75_hours_in_stage, aging_pursuits, slipped_pursuits "
        "from marts.pipeline_health where org_id = 'acme' order by stage_order",
    )
    # completed qual stays: pur-b 6 h, pur-d 24 h, pur-l 120 h (qual -> lost) => p75 = 24 + 0.5 x 96 = 72;
    # pur-c has been in qual 30 h (not aging) and is overdue. Pink stays: 6 h and 24 h => p75 = 19.5.
    assert [tuple(r.values()) for r in got] == [
        ("qual", 1, 60000.0, pytest.approx(72.0), 0, 1),
        ("pink", 0, 0.0, pytest.approx(19.5), 0, 0),
        ("red", 2, 150000.0, None, 0, 0),
        ("submit", 0, 0.0, None, 0, 0),
    ]
    assert len(rows(warehouse, "select * from marts.pipeline_health where org_id = 'initech'")) == 4


def test_win_rate_monthly(warehouse: Path) -> None:
    got = rows(warehouse, "select org_id, month_start, won, lost, win_rate from marts.win_rate_monthly")
    assert [tuple(r.values()) for r in got] == [("acme", date(2026, 2, 1), 0, 1, 0.0)]
