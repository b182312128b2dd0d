"""The SLA marts (dbt/models/marts/sla) built on the fold of hand-made events.

Org `acme` changes its triage threshold to 12 h from 2026-03-02 00:00 and its proposal threshold to 200 h from
2026-03-04 00:00 (each clock keeps the threshold in force when it started). One signal is created and dismissed
with non-UTC offsets; one signal's touch (before its deadline) arrives late, in a later file: no breach. Org
`globex` has the same signal without the touch (an open breach) and nothing else: zero-filled metrics.
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

from dagster_project.config.registry import DEFAULTS

AS_OF = "2026-03-10T12:00:00+00:00"
PINK = ["budget_confirmed", "technical_scope_defined", "decision_makers_identified", "timeline_agreed"]
RED = ["proposal_reviewed", "pricing_approved", "legal_terms_agreed", "delivery_plan_finalized"]

_counter = iter(range(1, 1000))


def _ev(
    org: str, at: str, name: str, entity_id: str, payload: dict[str, Any] | None = None
) -> dict[str, Any]:
    return {
        "org_id": org,
        "event_id": f"sla-{next(_counter):03d}",
        "occurred_at": at,
        "event_name": name,
        "entity_type": "org" if name == "config.changed" else name.split(".")[0],
        "entity_id": entity_id,
        "actor": "rep@example.com",
        "payload": payload or {},
    }


def _acme(at: str, name: str, entity_id: str, **payload: Any) -> dict[str, Any]:
    return _ev("acme", at, name, entity_id, payload)


def _items(at: str, pursuit: str, checklist: str, items: list[str]) -> list[dict[str, Any]]:
    return [
        _acme(at, "pursuit.checklist_item_set", pursuit, checklist=checklist, item=i, done=True)
        for i in items
    ]


ACME = [
    _acme("2026-03-02T00:00:00+00:00", "config.changed", "acme", key="sla.triage.threshold_hours", value=12),
    _acme("2026-03-04T00:00:00+00:00", "config.changed", "acme", key="sla.proposal.threshold_hours", value=200),
    # triage
    _acme("2026-02-28T08:00:00+00:00", "signal.created", "sig-1", source_type="email"),  # 24 h (before the change)
    _acme("2026-03-01T07:00:00+00:00", "signal.touched", "sig-1"),  # met after 23 h (Sunday: week of 02-23)
    _acme("2026-03-02T00:00:00+00:00", "signal.created", "sig-2", source_type="call"),  # same instant: 12 h
    _acme("2026-03-02T13:00:00+00:00", "signal.touched", "sig-2"),  # 1 h late
    _acme("2026-03-03T09:00:00+02:00", "signal.created", "sig-3", source_type="web"),  # 07:00 UTC
    _acme("2026-03-03T14:00:00-05:00", "signal.dismissed", "sig-3", reason="spam"),  # 19:00 UTC = the deadline
    _acme("2026-03-05T00:00:00+00:00", "signal.created", "sig-4", source_type="ad"),  # never touched
    _acme("2026-03-10T02:00:00+00:00", "signal.created", "sig-5", source_type="note"),  # 10 h of 12: at risk
    _acme("2026-03-10T06:00:00+00:00", "signal.created", "sig-6", source_type="note"),  # 6 h of 12: running
    _acme("2026-03-04T00:00:00+00:00", "signal.created", "sig-7", source_type="referral"),
    # proposal / response: pur-1 submits exactly at the 72 h deadline, is won 1 h after the 96 h response deadline
    _acme("2026-03-01T09:00:00+00:00", "candidate.created", "cand-1", title="Printers", owner="ann"),
    _acme("2026-03-01T10:00:00+00:00", "candidate.status_changed", "cand-1", to="triaged"),
    _acme("2026-03-02T09:00:00+00:00", "candidate.promoted", "cand-1", pursuit_id="pur-1"),
    *_items("2026-03-02T10:00:00+00:00", "pur-1", "pink", PINK),
    _acme("2026-03-03T09:00:00+00:00", "pursuit.stage_changed", "pur-1", to="pink"),
    _acme("2026-03-04T09:00:00+00:00", "pursuit.stage_changed", "pur-1", to="red"),
    _acme("2026-03-05T09:00:00+00:00", "pursuit.stage_changed", "pur-1", to="submit"),
    _acme("2026-03-05T10:00:00+00:00", "pursuit.proposal_sent", "pur-1", proposal_id="prop-1", version=1),
    *_items("2026-03-06T10:00:00+00:00", "pur-1", "red", RED),
    _acme("2026-03-09T11:00:00+00:00", "pursuit.stage_changed", "pur-1", to="won", reason_code="other"),
    # pur-2 started before the proposal change (72 h): open breach since 03-06 00:00
    _acme("2026-03-02T20:00:00+00:00", "candidate.created", "cand-2", title="Fax"),
    _acme("2026-03-02T21:00:00+00:00", "candidate.status_changed", "cand-2", to="triaged"),
    _acme("2026-03-03T00:00:00+00:00", "candidate.promoted", "cand-2", pursuit_id="pur-2"),
    # pur-3 started after it (200 h): 132 h elapsed, below 0.75 x 200, running
    _acme("2026-03-04T00:00:00+00:00", "candidate.created", "cand-3", title="Toner"),
    _acme("2026-03-04T01:00:00+00:00", "candidate.status_changed", "cand-3", to="triaged"),
    _acme("2026-03-05T00:00:00+00:00", "candidate.promoted", "cand-3", pursuit_id="pur-3"),
]  # fmt: skip
# Arrives in a later file, but happened before sig-7's 12 h deadline (03-04 12:00): no breach.
LATE = [_acme("2026-03-04T10:00:00+00:00", "signal.touched", "sig-7")]
GLOBEX = [_ev("globex", "2026-03-04T00:00:00+00:00", "signal.created", "sig-7", {"source_type": "referral"})]


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text)


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("sla")
    path = root / "warehouse.duckdb"
    with duckdb.connect(str(path)) as con:
        create_raw_tables(con)
        insert_events(con, [*ACME, *GLOBEX], source_file="first.jsonl")
        insert_events(con, LATE, source_file="late.jsonl", ingested_at="2026-03-10T11:00:00+00:00")
        create_core_tables(con)
        fold_into_core(con, [*ACME, *GLOBEX, *LATE], as_of=AS_OF)
    run_dbt(
        ["build", "--select", "+path:models/marts/sla"], warehouse=path, target=root / "target", as_of=AS_OF
    )
    return path


def test_clocks(warehouse: Path) -> None:
    got = {
        (r["org_id"], r["item_id"], r["metric"]): r for r in rows(warehouse, "select * from marts.sla_clocks")
    }
    expected = {
        # (threshold, started, deadline, stopped, elapsed, status)
        ("acme", "sig-1", "triage"): (24.0, "2026-02-28T08:00Z", "2026-03-01T08:00Z", "2026-03-01T07:00Z", 23.0, "met"),
        ("acme", "sig-2", "triage"): (12.0, "2026-03-02T00:00Z", "2026-03-02T12:00Z", "2026-03-02T13:00Z", 13.0,
                                      "breached_resolved"),
        ("acme", "sig-3", "triage"): (12.0, "2026-03-03T07:00Z", "2026-03-03T19:00Z", "2026-03-03T19:00Z", 12.0, "met"),
        ("acme", "sig-4", "triage"): (12.0, "2026-03-05T00:00Z", "2026-03-05T12:00Z", None, 132.0, "breached_open"),
        ("acme", "sig-5", "triage"): (12.0, "2026-03-10T02:00Z", "2026-03-10T14:00Z", None, 10.0, "at_risk"),
        ("acme", "sig-6", "triage"): (12.0, "2026-03-10T06:00Z", "2026-03-10T18:00Z", None, 6.0, "running"),
        ("acme", "sig-7", "triage"): (12.0, "2026-03-04T00:00Z", "2026-03-04T12:00Z", "2026-03-04T10:00Z", 10.0, "met"),
        ("acme", "pur-1", "proposal"): (72.0, "2026-03-02T09:00Z", "2026-03-05T09:00Z", "2026-03-05T09:00Z", 72.0,
                                        "met"),
        ("acme", "pur-1", "response"): (96.0, "2026-03-05T10:00Z", "2026-03-09T10:00Z", "2026-03-09T11:00Z", 97.0,
                                        "breached_resolved"),
        ("acme", "pur-2", "proposal"): (72.0, "2026-03-03T00:00Z", "2026-03-06T00:00Z", None, 180.0, "breached_open"),
        ("acme", "pur-3", "proposal"): (200.0, "2026-03-05T00:00Z", "2026-03-13T08:00Z", None, 132.0, "running"),
        ("globex", "sig-7", "triage"): (24.0, "2026-03-04T00:00Z", "2026-03-05T00:00Z", None, 156.0, "breached_open"),
    }  # fmt: skip
    assert set(got) == set(expected)
    for key, (threshold, started, deadline, stopped, elapsed, status) in expected.items():
        r = got[key]
        assert r["threshold_hours"] == threshold, key
        assert r["started_at"] == _at(started), key
        assert r["deadline_at"] == _at(deadline), key
        assert r["stopped_at"] == (None if stopped is None else _at(stopped)), key
        assert r["elapsed_hours"] == pytest.approx(elapsed), key
        assert r["status"] == status, key
        assert r["is_eligible"] is (status in ("met", "breached_resolved", "breached_open")), key
        assert r["is_breached"] is status.startswith("breached"), key
        assert r["built_at"] == _at(AS_OF)


def test_breaches(warehouse: Path) -> None:
    got = rows(
        warehouse,
        "select org_id, item_type, item_id, metric, started_at, breached_at, resolved_at, threshold_hours, "
        "hours_over_threshold, is_open from marts.sla_breaches order by org_id, item_id, metric",
    )
    assert [tuple(r.values()) for r in got] == [
        ("acme", "pursuit", "pur-1", "response", _at("2026-03-05T10:00Z"), _at("2026-03-09T10:00Z"),
         _at("2026-03-09T11:00Z"), 96.0, pytest.approx(1.0), False),
        ("acme", "pursuit", "pur-2", "proposal", _at("2026-03-03T00:00Z"), _at("2026-03-06T00:00Z"), None, 72.0,
         pytest.approx(108.0), True),
        ("acme", "signal", "sig-2", "triage", _at("2026-03-02T00:00Z"), _at("2026-03-02T12:00Z"),
         _at("2026-03-02T13:00Z"), 12.0, pytest.approx(1.0), False),
        ("acme", "signal", "sig-4", "triage", _at("2026-03-05T00:00Z"), _at("2026-03-05T12:00Z"), None, 12.0,
         pytest.approx(120.0), True),
        # the same signal in globex, without the late touch: a breach
        ("globex", "signal", "sig-7", "triage", _at("2026-03-04T00:00Z"), _at("2026-03-05T00:00Z"), None, 24.0,
         pytest.approx(132.0), True),
    ]  # fmt: skip


def test_compliance_summary(warehouse: Path) -> None:
    got = {
        (r["org_id"], r["metric"]): r for r in rows(warehouse, "select * from marts.sla_compliance_summary")
    }
    expected = {
        # threshold in force at T, eligible, breached, open, at risk, compliance %, breach rate %, below line
        ("acme", "triage"): (12.0, 5, 2, 1, 1, 60.0, 40.0, True),
        ("acme", "proposal"): (200.0, 2, 1, 1, 0, 50.0, 50.0, True),
        ("acme", "response"): (96.0, 1, 1, 0, 0, 0.0, 100.0, True),
        ("globex", "triage"): (24.0, 1, 1, 1, 0, 0.0, 100.0, True),
        ("globex", "proposal"): (72.0, 0, 0, 0, 0, None, None, False),
        ("globex", "response"): (96.0, 0, 0, 0, 0, None, None, False),
    }
    assert set(got) == set(expected)
    columns = (
        "threshold_hours", "eligible_items", "breached_items", "open_breaches", "at_risk_items",
        "compliance_pct", "breach_rate_pct", "below_health_line",
    )  # fmt: skip
    line = DEFAULTS["health.sla_breach_rate_pct"]
    assert [got[key]["health_line_pct"] for key in expected] == [pytest.approx(line)] * len(expected)
    for key, values in expected.items():
        actual = tuple(got[key][c] for c in columns)
        assert actual == tuple(v if v is None or isinstance(v, bool) else pytest.approx(v) for v in values), (
            key
        )


def test_compliance_weekly(warehouse: Path) -> None:
    got = rows(
        warehouse,
        "select org_id, metric, week_start, eligible_items, breached_items, compliance_pct, hours_over_threshold "
        "from marts.sla_compliance_weekly order by org_id, metric, week_start",
    )
    assert [tuple(r.values()) for r in got] == [
        ("acme", "proposal", date(2026, 3, 2), 2, 1, 50.0, pytest.approx(108.0)),
        ("acme", "response", date(2026, 3, 9), 1, 1, 0.0, pytest.approx(1.0)),
        ("acme", "triage", date(2026, 2, 23), 1, 0, 100.0, 0.0),
        ("acme", "triage", date(2026, 3, 2), 4, 2, 50.0, pytest.approx(121.0)),
        ("globex", "triage", date(2026, 3, 2), 1, 1, 0.0, pytest.approx(132.0)),
    ]
