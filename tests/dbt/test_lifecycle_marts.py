"""The lifecycle marts (dbt/models/marts/lifecycle, marts/outcomes) built on the apply step's `core` tables.

A hand-made scenario: org `initech` walks two pursuits through the gates, first under `gate_mode = enforce`
(rejections), then under `warn` (warned transitions); org `umbrella` has events but no pursuits. The raw
events go to `raw.events`; the core tables are the fold of the same events as of AS_OF, plus hand-made
client parts from two clusters.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest
from core_fixture import create_core_tables, fold_into_core, insert_core_rows, rows
from raw_fixture import create_raw_tables, insert_events
from test_dbt_project import run_dbt

from dagster_project.config.registry import DEFAULTS

AS_OF = "2026-11-27T17:00:00+00:00"
PINK = ["budget_confirmed", "technical_scope_defined", "decision_makers_identified", "timeline_agreed"]
RED = ["proposal_reviewed", "pricing_approved", "legal_terms_agreed", "delivery_plan_finalized"]

# The marts the tests below read, everything they are built from, and their data tests.
MARTS = [
    "gate_pass_rates", "gate_attempts", "win_loss", "funnel_velocity", "funnel_stage_entries", "pursuits",
    "candidates", "signals", "clients", "users", "transitions", "rejected_events", "config_registry",
]  # fmt: skip
SELECT = ["--select", " ".join(f"+{mart}" for mart in MARTS)]

_counter = iter(range(1, 1000))


def _ev(
    org: str, at: str, name: str, entity_id: str, payload: dict[str, Any] | None = None
) -> dict[str, Any]:
    return {
        "org_id": org,
        "event_id": f"evt-{next(_counter):03d}",
        "occurred_at": at,
        "event_name": name,
        "entity_type": "org" if name == "config.changed" else name.split(".")[0],
        "entity_id": entity_id,
        "actor": "rep@example.com",
        "payload": payload or {},
    }


def _stage(at: str, pursuit: str, to: str, **payload: Any) -> dict[str, Any]:
    return _ev("initech", at, "pursuit.stage_changed", pursuit, {"to": to, **payload})


def _items(at: str, pursuit: str, checklist: str, items: list[str]) -> list[dict[str, Any]]:
    return [
        _ev(
            "initech",
            at,
            "pursuit.checklist_item_set",
            pursuit,
            {"checklist": checklist, "item": i, "done": True},
        )
        for i in items
    ]


# pur-a (enforce): submit rejected twice by pink (all four missing, then timeline_agreed), passes; lost rejected by
# red (all four missing), passes; a later move out of lost is an illegal transition.
# pur-b (warn from 11-08): submit warned by pink (all four missing); won warned by red (all four, no proposal).
INITECH = [
    _ev("initech", "2026-11-01T09:00:00+00:00", "signal.created", "sig-a", {"source_type": "email"}),
    _ev("initech", "2026-11-01T10:00:00+00:00", "client.updated", "cli-1", {"name": "Initech", "domain": "initech.example"}),
    _ev("initech", "2026-11-01T11:00:00+00:00", "candidate.created", "cand-a",
        {"title": "Printers", "client_id": "cli-1", "signal_ids": ["sig-a"], "owner": "ann"}),
    _ev("initech", "2026-11-01T12:00:00+00:00", "candidate.status_changed", "cand-a", {"to": "triaged"}),
    _ev("initech", "2026-11-02T09:00:00+00:00", "candidate.promoted", "cand-a",
        {"pursuit_id": "pur-a", "forecast_value_usd": 1000}),
    _stage("2026-11-02T10:00:00+00:00", "pur-a", "pink"),
    _stage("2026-11-02T11:00:00+00:00", "pur-a", "red"),
    _stage("2026-11-03T09:00:00+00:00", "pur-a", "submit"),  # rejected: pink, all four missing
    *_items("2026-11-03T10:00:00+00:00", "pur-a", "pink", PINK[:3]),
    _stage("2026-11-04T09:00:00+00:00", "pur-a", "submit"),  # rejected: pink, timeline_agreed missing
    *_items("2026-11-04T10:00:00+00:00", "pur-a", "pink", PINK[3:]),
    _stage("2026-11-05T09:00:00+00:00", "pur-a", "submit"),  # pink passed
    _stage("2026-11-06T09:00:00+00:00", "pur-a", "lost", reason_code="competitor"),  # rejected: red, all four
    *_items("2026-11-06T10:00:00+00:00", "pur-a", "red", RED),
    _stage("2026-11-07T09:00:00+00:00", "pur-a", "lost", reason_code="competitor"),  # red passed
    _ev("initech", "2026-11-08T00:00:00+00:00", "config.changed", "initech", {"key": "gate_mode", "value": "warn"}),
    _ev("initech", "2026-11-08T09:00:00+00:00", "candidate.created", "cand-b", {"title": "Fax", "client_id": "cli-1"}),
    _ev("initech", "2026-11-08T10:00:00+00:00", "candidate.status_changed", "cand-b", {"to": "triaged"}),
    _ev("initech", "2026-11-08T11:00:00+00:00", "candidate.promoted", "cand-b",
        {"pursuit_id": "pur-b", "forecast_value_usd": 500}),
    _stage("2026-11-09T09:00:00+00:00", "pur-b", "pink"),
    _stage("2026-11-09T12:00:00+00:00", "pur-b", "red"),
    _stage("2026-11-10T09:00:00+00:00", "pur-b", "submit"),  # warned: pink, all four missing
    _stage("2026-11-11T09:00:00+00:00", "pur-b", "won"),  # warned: red, all four missing, no proposal; no reason
    _stage("2026-11-12T09:00:00+00:00", "pur-a", "pink"),  # rejected: lost is terminal (never warned)
    _stage("2026-11-28T09:00:00+00:00", "pur-a", "qual"),  # after AS_OF: not folded
]  # fmt: skip
UMBRELLA_GATE_LINE = 0.9
UMBRELLA = [
    _ev("umbrella", "2026-11-20T09:00:00+00:00", "signal.created", "sig-a", {"source_type": "web"}),
    _ev("umbrella", "2026-11-21T00:00:00+00:00", "config.changed", "umbrella",
        {"key": "health.gate_pass_rate", "value": UMBRELLA_GATE_LINE}),
]  # fmt: skip

# Who `ann` (cand-a's owner) is; `bo` was named, then erased; umbrella reuses the id `ann` for someone else.
USERS = [
    _ev("initech", "2026-11-01T08:00:00+00:00", "user.updated", "ann", {"name": "Ann Archer", "title": "AE"}),
    _ev("initech", "2026-11-01T08:00:00+00:00", "user.updated", "bo", {"name": "Bo Brandt"}),
    _ev("initech", "2026-11-02T08:00:00+00:00", "user.erased", "bo"),
    _ev("umbrella", "2026-11-20T08:00:00+00:00", "user.updated", "ann", {"name": "Ann Other"}),
]  # fmt: skip

# What a finer clustering would write: the same client known to two clusters (merged by the clients mart).
CLIENT_PARTS = [
    ("cluster-1", {"org_id": "umbrella", "client_id": "cli-9", "name": None, "domain": None, "industry": None,
                   "created_at": datetime(2026, 11, 5, tzinfo=UTC), "last_event_at": None}),
    ("cluster-2", {"org_id": "umbrella", "client_id": "cli-9", "name": "Umbrella", "domain": "umbrella.example",
                   "industry": "pharma", "created_at": datetime(2026, 11, 7, tzinfo=UTC),
                   "last_event_at": datetime(2026, 11, 9, tzinfo=UTC)}),
]  # fmt: skip


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _by_event(events: list[dict[str, Any]], pursuit: str, to: str) -> list[str]:
    return [
        e["event_id"]
        for e in events
        if e["event_name"] == "pursuit.stage_changed"
        and e["entity_id"] == pursuit
        and e["payload"]["to"] == to
    ]


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("lifecycle")
    path = root / "warehouse.duckdb"
    with duckdb.connect(str(path)) as con:
        create_raw_tables(con)
        insert_events(con, [*INITECH, *UMBRELLA, *USERS])
        create_core_tables(con)
        fold_into_core(con, [*INITECH, *UMBRELLA, *USERS], as_of=AS_OF)
        for cluster, row in CLIENT_PARTS:
            insert_core_rows(con, "client_parts", [row], cluster_id=cluster)
    run_dbt(["build", *SELECT], warehouse=path, target=root / "target", as_of=AS_OF)
    return path


def test_gate_pass_rates(warehouse: Path) -> None:
    got = {(r["org_id"], r["gate"]): r for r in rows(warehouse, "select * from marts.gate_pass_rates")}
    assert set(got) == {("initech", "pink"), ("initech", "red"), ("umbrella", "pink"), ("umbrella", "red")}
    # pink: 2 rejected + 1 passed + 1 warned (a rejected_events row and a warned transition: counted once)
    pink = got[("initech", "pink")]
    assert (pink["attempts"], pink["passed"]) == (4, 1)
    assert pink["pass_rate"] == pytest.approx(0.25)
    # timeline_agreed missed 3 times, the other three twice each: ties by name
    assert pink["top_missing_items"] == ["timeline_agreed", "budget_confirmed", "decision_makers_identified"]
    assert pink["below_health_line"] is True
    # red: lost rejected + lost passed + won warned ("...; no sent proposal" is not an item)
    red = got[("initech", "red")]
    assert (red["attempts"], red["passed"]) == (3, 1)
    assert red["pass_rate"] == pytest.approx(1 / 3)
    assert red["top_missing_items"] == ["delivery_plan_finalized", "legal_terms_agreed", "pricing_approved"]
    assert red["below_health_line"] is True
    for gate in ("pink", "red"):
        zero = got[("umbrella", gate)]
        assert (zero["attempts"], zero["passed"], zero["pass_rate"]) == (0, 0, None)
        assert (zero["top_missing_items"], zero["below_health_line"]) == ([], False)
    assert {r["built_at"] for r in got.values()} == {_at(AS_OF)}


def test_gate_pass_rates_publish_each_orgs_health_line_from_the_config_registry(warehouse: Path) -> None:
    got = {
        (r["org_id"], r["gate"]): r["health_line"]
        for r in rows(warehouse, "select * from marts.gate_pass_rates")
    }
    default = DEFAULTS["health.gate_pass_rate"]
    assert got == {
        ("initech", "pink"): pytest.approx(default),
        ("initech", "red"): pytest.approx(default),
        ("umbrella", "pink"): pytest.approx(UMBRELLA_GATE_LINE),
        ("umbrella", "red"): pytest.approx(UMBRELLA_GATE_LINE),
    }


def test_win_loss(warehouse: Path) -> None:
    got = rows(
        warehouse,
        "select org_id, outcome, reason_code, pursuits, value_usd, median_days_to_close "
        "from marts.win_loss order by all",
    )
    assert got == [
        # pur-a: promoted 11-02 09:00, lost 11-07 09:00 (the rejected lost on 11-06 does not count)
        {"org_id": "initech", "outcome": "lost", "reason_code": "competitor", "pursuits": 1, "value_usd": 1000.0,
         "median_days_to_close": pytest.approx(5.0)},
        # pur-b: promoted 11-08 11:00, won (warned) 11-11 09:00 without a reason code
        {"org_id": "initech", "outcome": "won", "reason_code": "missing", "pursuits": 1, "value_usd": 500.0,
         "median_days_to_close": pytest.approx(2 + 22 / 24)},
    ]  # fmt: skip


def test_funnel_uses_applied_transitions(warehouse: Path) -> None:
    got = {
        (r["from_stage"], r["to_stage"]): r
        for r in rows(warehouse, "select * from marts.funnel_velocity where org_id = 'initech'")
    }

    def check(pair: tuple[str, str], entered: int, converted: int, median: float | None) -> None:
        r = got[pair]
        assert (r["entered"], r["converted"]) == (entered, converted), (pair, r)
        assert r["median_hours"] == (None if median is None else pytest.approx(median)), (pair, r)

    check(("signal", "candidate"), 1, 1, 2.0)
    check(("candidate", "promoted"), 2, 2, (22 + 2) / 2)
    # pur-a entered submit when applied (11-05 09:00, 70 h after red), not at its rejected attempt (46 h);
    # pur-b's warned submit was applied: 21 h.
    check(("red", "submit"), 2, 2, (70 + 21) / 2)
    # pur-b's warned won counts; pur-a was lost when applied (48 h after submit), not at the rejected 11-06.
    check(("submit", "won"), 2, 1, 24.0)
    check(("submit", "lost"), 2, 1, 48.0)
    check(("qual", "lost"), 2, 1, 5 * 24.0)
    assert got[("qual", "pink")]["converted"] == 2


def test_entity_marts(warehouse: Path) -> None:
    pursuits = {r["pursuit_id"]: r for r in rows(warehouse, "select * from marts.pursuits")}
    assert pursuits["pur-a"]["stage"] == "lost" and pursuits["pur-a"]["outcome"] == "lost"
    assert pursuits["pur-a"]["closed_at"] == _at("2026-11-07T09:00:00+00:00")
    assert pursuits["pur-b"]["stage"] == "won" and pursuits["pur-b"]["missing_reason"] is True
    assert pursuits["pur-b"]["red_missing"] == RED
    assert "cluster_id" not in pursuits["pur-a"]
    candidates = rows(warehouse, "select candidate_id, status, pursuit_id from marts.candidates order by 1")
    assert [tuple(r.values()) for r in candidates] == [
        ("cand-a", "promoted", "pur-a"),
        ("cand-b", "promoted", "pur-b"),
    ]
    signals = rows(warehouse, "select org_id, signal_id, status from marts.signals order by 1")
    assert [tuple(r.values()) for r in signals] == [
        ("initech", "sig-a", "linked"),
        ("umbrella", "sig-a", "open"),
    ]
    clients = {r["client_id"]: r for r in rows(warehouse, "select * from marts.clients")}
    assert clients["cli-1"]["name"] == "Initech" and clients["cli-1"]["org_id"] == "initech"
    # two parts merged: first reference, latest update, the non-null fields
    merged = clients["cli-9"]
    assert (merged["name"], merged["domain"], merged["industry"]) == (
        "Umbrella",
        "umbrella.example",
        "pharma",
    )
    assert merged["created_at"] == datetime(2026, 11, 5, tzinfo=UTC)
    assert merged["last_event_at"] == datetime(2026, 11, 9, tzinfo=UTC)


def test_the_users_mart_names_each_user_of_each_org_and_forgets_the_erased(warehouse: Path) -> None:
    users = rows(
        warehouse,
        "select org_id, user_id, name, display_name, title from marts.users order by org_id, user_id",
    )
    assert [tuple(r.values()) for r in users] == [
        ("initech", "ann", "Ann Archer", "Ann Archer", "AE"),
        ("initech", "bo", None, "bo", None),
        ("umbrella", "ann", "Ann Other", "Ann Other", None),
    ]


def test_transitions_and_rejected_events(warehouse: Path) -> None:
    warned = rows(
        warehouse,
        "select entity_id, from_state, to_state from marts.transitions where warned order by occurred_at",
    )
    assert [tuple(r.values()) for r in warned] == [("pur-b", "red", "submit"), ("pur-b", "submit", "won")]
    rejected = rows(
        warehouse, "select event_id, rule, outcome from marts.rejected_events order by occurred_at"
    )
    submit_a = _by_event(INITECH, "pur-a", "submit")
    lost_a = _by_event(INITECH, "pur-a", "lost")
    assert [(r["event_id"], r["rule"], r["outcome"]) for r in rejected] == [
        (submit_a[0], "gate:pink_incomplete", "rejected"),
        (submit_a[1], "gate:pink_incomplete", "rejected"),
        (lost_a[0], "gate:red_incomplete", "rejected"),
        (_by_event(INITECH, "pur-b", "submit")[0], "gate:pink_incomplete", "warned"),
        (_by_event(INITECH, "pur-b", "won")[0], "gate:red_incomplete", "warned"),
        (_by_event(INITECH, "pur-a", "pink")[1], "illegal_transition", "rejected"),
    ]


def test_config_registry_in_force(warehouse: Path) -> None:
    got = rows(
        warehouse,
        "select value::varchar as value, effective_from, effective_to, source, in_force "
        "from marts.config_registry where org_id = 'initech' and key = 'gate_mode' order by source",
    )
    switch = _at("2026-11-08T00:00:00+00:00")
    assert got == [
        {
            "value": '"enforce"',
            "effective_from": None,
            "effective_to": switch,
            "source": "default",
            "in_force": False,
        },
        {
            "value": '"warn"',
            "effective_from": switch,
            "effective_to": None,
            "source": "override",
            "in_force": True,
        },
    ]
    # every org has exactly one value in force per key
    counts = rows(
        warehouse,
        "select org_id, key, count(*) filter (where in_force) as n from marts.config_registry group by all "
        "having n <> 1",
    )
    assert counts == []
    assert rows(warehouse, "select count(distinct org_id) as n from marts.config_registry") == [{"n": 2}]


def test_gate_attempts_are_the_attempts_gate_pass_rates_counts(warehouse: Path) -> None:
    per_gate = rows(
        warehouse,
        "select org_id, gate, count(*) as attempts, count(*) filter (where passed) as passed "
        "from marts.gate_attempts group by all order by all",
    )
    published = rows(
        warehouse,
        "select org_id, gate, attempts, passed from marts.gate_pass_rates where attempts > 0 order by all",
    )
    assert per_gate == published
    assert per_gate  # the fixture has attempts to compare
    failed = rows(warehouse, "select missing_items from marts.gate_attempts where not passed")
    assert any(r["missing_items"] for r in failed)


def test_funnel_stage_entries_are_the_entries_funnel_velocity_counts(warehouse: Path) -> None:
    entered = rows(
        warehouse,
        """
        select f.org_id, f.from_stage, f.to_stage, count(e.item_id) as entered
        from marts.funnel_velocity as f
        left join marts.funnel_stage_entries as e
            on e.org_id = f.org_id and e.item_type = f.item_type and e.stage = f.from_stage
        group by all order by all
        """,
    )
    published = rows(
        warehouse, "select org_id, from_stage, to_stage, entered from marts.funnel_velocity order by all"
    )
    assert entered == published
    assert sum(r["entered"] for r in published) > 0
