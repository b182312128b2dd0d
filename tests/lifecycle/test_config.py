"""The config registry: contract defaults, value checks, effective dating and history rows."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from dagster_project.config.registry import DEFAULTS, KEYS, NOTE_RULES, ConfigRegistry, validate_change
from dagster_project.lifecycle.fold import fold
from dagster_project.memory.capture import capture_atoms
from tests.lifecycle.timeline import PINK, RED, at, config, ev, happy_path, promoted_pursuit

ORG = "acme"


def test_defaults_equal_the_contract() -> None:
    expected = {
        "sla.triage.threshold_hours": 24,
        "sla.proposal.threshold_hours": 72,
        "sla.response.threshold_hours": 96,
        "sla.at_risk_fraction": 0.75,
        "checklist.pink.items": PINK,
        "checklist.red.items": RED,
        "gate_mode": "enforce",
        # the original system's health targets: gate pass rate ≥ 80 %, SLA breach rate ≤ 5 %
        "health.gate_pass_rate": 0.8,
        "health.sla_breach_rate_pct": 5.0,
        # follow-ups (marts.follow_ups): a quiet sent proposal after 5 days, a quiet answered signal after 3
        "followup.proposal_quiet_days": 5,
        "followup.signal_quiet_days": 3,
        "transitions.candidate": {
            "new": ["triaged", "archived"],
            "triaged": ["nurture", "on_hold", "promoted", "archived"],
            "nurture": ["triaged", "on_hold", "promoted", "archived"],
            "on_hold": ["triaged", "nurture", "promoted", "archived"],
            "promoted": [],
            "archived": [],
        },
        "transitions.pursuit": {
            "qual": ["pink", "lost"],
            "pink": ["red", "qual", "lost"],
            "red": ["submit", "pink", "lost"],
            "submit": ["won", "lost"],
            "won": [],
            "lost": [],
        },
        "memory.pinned_types": [],
        "identity.default_region": "US",
        "identity.auto_link": False,
        "identity.matcher_min_records": 50,
        "identity.match_probability": 0.95,
        "identity.train_min_records": 10**9,
        "identity.max_block_size": 50,
        # the stock Salesforce and HubSpot pipelines (docs/import.md); tests/importers/test_stage_map.py reads them
        "import.stage_map": {
            "salesforce": {"Prospecting": "candidate", "Qualification": "qual", "Needs Analysis": "qual"}
            | {"Value Proposition": "pink", "Id. Decision Makers": "pink", "Perception Analysis": "pink"}
            | {"Proposal/Price Quote": "red", "Negotiation/Review": "submit"}
            | {"Closed Won": "won", "Closed Lost": "lost"},
            "hubspot": {"appointmentscheduled": "candidate", "Appointment Scheduled": "candidate"}
            | {"qualifiedtobuy": "qual", "Qualified To Buy": "qual"}
            | {"presentationscheduled": "pink", "Presentation Scheduled": "pink"}
            | {"decisionmakerboughtin": "red", "Decision Maker Bought-In": "red"}
            | {"contractsent": "submit", "Contract Sent": "submit"}
            | {"closedwon": "won", "Closed Won": "won", "closedlost": "lost", "Closed Lost": "lost"},
        },
        "outbox.max_attempts": 8,
        "outbox.backoff_cap_minutes": 60,
        "outbox.stale_claim_minutes": 5,
        "enrichment": {},  # off until an org names a server the operator declared (docs/mcp.md)
    }
    scores = {"decision": 100, "risk": 90, "preference": 80, "note": 60, "status": 40}
    retention = {"decision": 365, "risk": 365, "preference": 365, "note": 90, "status": 30}
    half_life = {"decision": 180, "risk": 180, "preference": 180, "note": 30, "status": 30}
    for atom_type in scores:
        expected[f"memory.score.{atom_type}"] = scores[atom_type]
        expected[f"memory.retention_days.{atom_type}"] = retention[atom_type]
        expected[f"memory.half_life_days.{atom_type}"] = half_life[atom_type]
    # The note-type rule set is this project's own (no contract default); tests/memory checks it.
    assert DEFAULTS["memory.note_rules"] == NOTE_RULES
    assert {
        k: v for k, v in DEFAULTS.items() if not k.startswith("ranking.") and k != "memory.note_rules"
    } == expected


def test_ranking_defaults_score_the_two_worked_examples() -> None:
    # worked example (b): red pursuit, 150k forecast, compliance 8.5, due in 2 days, lead with 2
    r = {k.removeprefix("ranking."): v for k, v in DEFAULTS.items() if k.startswith("ranking.")}
    score = (
        r["pursuit_urgency.due_soon"]
        + r["pursuit_value.large"]
        + r["pursuit_stage.red"]
        + r["pursuit_compliance.high"]
        - 2 * r["pursuit_workload.per_item"]
    )
    assert score == 129 and score >= r["tier.critical_min"]
    # worked example (a): nurture candidate, high value, touched 80 h ago, owner with 4 open candidates
    assert r["candidate_urgency.aging_after_hours"] < 80
    score = (
        r["candidate_urgency.aging"]
        + r["candidate_value.high"]
        + r["candidate_stage.nurture"]
        - 4 * r["candidate_workload.per_item"]
    )
    assert score == 62 and r["tier.medium_min"] <= score < r["tier.high_min"]


def test_default_values_are_read_only_and_answer_for_any_org() -> None:
    registry = ConfigRegistry()
    items = registry.value("nobody", "checklist.pink.items", at(0))
    assert items == tuple(PINK)
    with pytest.raises(TypeError):
        registry.value("nobody", "transitions.pursuit", at(0))["qual"] = ("won",)  # type: ignore[index]
    with pytest.raises(KeyError):
        registry.value("nobody", "no.such.key", at(0))


@pytest.mark.parametrize(
    ("key", "value", "fragment"),
    [
        ("sla.triage.thresholds", 5, "unknown config key"),
        ("ranking.nonsense.case", 5, "unknown config key"),
        ("memory.score.gossip", 5, "unknown config key"),
        ("sla.triage.threshold_hours", "24", "positive number"),
        ("sla.triage.threshold_hours", 0, "positive number"),
        ("sla.proposal.threshold_hours", -3, "positive number"),
        ("sla.response.threshold_hours", True, "positive number"),
        ("sla.response.threshold_hours", float("nan"), "positive number"),
        ("sla.at_risk_fraction", 1, "(0, 1)"),
        ("sla.at_risk_fraction", 0, "(0, 1)"),
        ("sla.at_risk_fraction", 1.5, "(0, 1)"),
        ("health.gate_pass_rate", 0, "(0, 1]"),
        ("health.gate_pass_rate", 1.01, "(0, 1]"),
        ("health.gate_pass_rate", "80%", "(0, 1]"),
        ("health.sla_breach_rate_pct", 0, "positive number"),
        ("health.sla_breach_rate_pct", 101, "at most 100"),
        ("checklist.pink.items", [], "at least one"),
        ("checklist.pink.items", "budget_confirmed", "list of non-empty strings"),
        ("checklist.red.items", ["a", 3], "list of non-empty strings"),
        ("checklist.red.items", ["a", " "], "list of non-empty strings"),
        ("checklist.red.items", ["a", "a"], "twice"),
        ("gate_mode", "lenient", "enforce, warn"),
        ("transitions.candidate", ["new"], "object"),
        ("transitions.candidate", {"new": ["qualified"]}, "unknown candidate states qualified"),
        ("transitions.pursuit", {"draft": ["qual"]}, "unknown pursuit states draft"),
        ("transitions.pursuit", {"qual": "pink"}, "list of state names"),
        ("transitions.pursuit", {"qual": ["pink", "pink"]}, "twice"),
        ("memory.score.decision", 0, "positive number"),
        ("memory.half_life_days.note", -1, "positive number"),
        ("memory.pinned_types", ["decision", "gossip"], "unknown values gossip"),
        ("memory.pinned_types", "decision", "list"),
        ("ranking.pursuit_stage.red", -5, ">= 0"),
        ("ranking.tier.critical_min", 0, "positive number"),
        ("outbox.max_attempts", 2.5, "positive integer"),
        ("outbox.max_attempts", 8.0, "positive integer"),
        ("outbox.stale_claim_minutes", 0, "positive integer"),
        ("memory.retention_days.note", 99999999, "at most"),  # overflowed a date in the fold
        ("sla.triage.threshold_hours", 10**12, "at most"),  # overflowed dbt's microseconds
        ("ranking.pursuit_value.large_min_usd", 1e300, "at most"),
        ("outbox.max_attempts", 10**9, "at most"),
    ],
)
def test_each_bad_value_is_invalid_config(key: str, value: object, fragment: str) -> None:
    verdict = validate_change({"key": key, "value": value})
    assert not verdict.ok
    assert verdict.rule == "invalid_config"
    assert fragment in (verdict.detail or "")
    assert key in (verdict.detail or "")


@pytest.mark.parametrize(
    "payload",
    [{}, {"key": 3, "value": 1}, {"key": "gate_mode"}, {"value": "warn"}, {"key": None, "value": None}],
)
def test_malformed_payloads_are_invalid_config_not_exceptions(payload: dict[str, object]) -> None:
    verdict = validate_change(payload)
    assert not verdict.ok and verdict.rule == "invalid_config" and verdict.detail


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("sla.triage.threshold_hours", 12.5),
        ("sla.at_risk_fraction", 0.5),
        ("health.gate_pass_rate", 1),
        ("health.gate_pass_rate", 0.65),
        ("health.sla_breach_rate_pct", 100),
        ("health.sla_breach_rate_pct", 2.5),
        ("checklist.pink.items", ["budget_confirmed"]),
        ("gate_mode", "warn"),
        ("transitions.pursuit", {"qual": ["submit"], "submit": ["won", "lost"]}),
        ("transitions.candidate", {}),
        ("memory.pinned_types", ["decision", "risk"]),
        ("memory.pinned_types", []),
        ("ranking.candidate_value.none", 0),
        ("outbox.max_attempts", 3),
    ],
)
def test_good_values_are_accepted(key: str, value: object) -> None:
    verdict = validate_change({"key": key, "value": value})
    assert verdict.ok and verdict.rule is None and verdict.value == value


def test_effective_dating_and_same_instant_ties() -> None:
    events = [
        config("c3", 20, "sla.triage.threshold_hours", 6),
        config("c1", 10, "sla.triage.threshold_hours", 12),
        config("c2b", 20, "sla.triage.threshold_hours", 8),  # same instant as c3: c3 > c2b wins
        config("bad", 30, "sla.triage.threshold_hours", -1),
        ev("x1", "signal.created", "s1", 40, {"source_type": "call"}),  # not config: skipped
    ]
    registry = ConfigRegistry.from_events(events)
    value = registry.value
    assert value(ORG, "sla.triage.threshold_hours", at(9.99)) == 24
    assert value(ORG, "sla.triage.threshold_hours", at(10)) == 12  # in force from its own instant
    assert value(ORG, "sla.triage.threshold_hours", at(19)) == 12
    assert value(ORG, "sla.triage.threshold_hours", at(20)) == 6
    assert value(ORG, "sla.triage.threshold_hours", at(50)) == 6  # the invalid change did not apply
    assert value("other", "sla.triage.threshold_hours", at(50)) == 24  # tenants never mix
    assert [r["event_id"] for r in registry.rejections] == ["bad"]
    assert registry.rejections[0]["rule"] == "invalid_config"
    assert registry.rejections[0]["outcome"] == "rejected"
    # input order does not matter
    assert ConfigRegistry.from_events(reversed(events)).history(ORG) == registry.history(ORG)


def test_history_rows() -> None:
    registry = ConfigRegistry.from_events(
        [config("c1", 10, "gate_mode", "warn"), config("c2", 20, "gate_mode", "enforce")]
    )
    rows = registry.history(ORG)
    assert len([r for r in rows if r["source"] == "default"]) == len(DEFAULTS)
    gate = [r for r in rows if r["key"] == "gate_mode"]
    assert gate == [
        {
            "org_id": ORG,
            "key": "gate_mode",
            "value": '"enforce"',
            "effective_from": None,
            "effective_to": at(10),
            "event_id": None,
            "source": "default",
        },
        {
            "org_id": ORG,
            "key": "gate_mode",
            "value": '"warn"',
            "effective_from": at(10),
            "effective_to": at(20),
            "event_id": "c1",
            "source": "override",
        },
        {
            "org_id": ORG,
            "key": "gate_mode",
            "value": '"enforce"',
            "effective_from": at(20),
            "effective_to": None,
            "event_id": "c2",
            "source": "override",
        },
    ]
    transitions = next(r for r in rows if r["key"] == "transitions.pursuit")
    assert json.loads(transitions["value"])["submit"] == ["won", "lost"]
    assert registry.orgs() == [ORG]


def test_transitions_override_replaces_the_whole_map() -> None:
    registry = ConfigRegistry.from_events([config("c1", 10, "transitions.pursuit", {"qual": ["submit"]})])
    assert dict(registry.value(ORG, "transitions.pursuit", at(10))) == {"qual": ("submit",)}
    assert registry.value(ORG, "transitions.pursuit", at(10)).get("submit", ()) == ()
    assert registry.value(ORG, "transitions.pursuit", at(5))["qual"] == ("pink", "lost")


NUMBER_KEYS = sorted(key for key, spec in KEYS.items() if spec.high is not None)


@pytest.mark.parametrize("key", NUMBER_KEYS)
def test_every_number_key_takes_its_bound_and_refuses_past_it(key: str) -> None:
    high = KEYS[key].high
    assert validate_change({"key": key, "value": high}).ok
    past = validate_change({"key": key, "value": high + 1})
    assert not past.ok and past.rule == "invalid_config" and "at most" in (past.detail or "")


def test_the_fold_and_capture_survive_every_number_key_at_its_bound_on_the_last_day() -> None:
    # The latest instant the calendar holds with room for the happy path's minutes.
    shift = datetime(9999, 12, 30, tzinfo=UTC) - at(0)
    events = [config(f"cfg{i}", -1, key, KEYS[key].high) for i, key in enumerate(NUMBER_KEYS)]
    events += happy_path()
    events.append(ev("n9", "pursuit.note_added", "p1", 30, {"text": "kick-off next week"}))
    for event in events:
        event["occurred_at"] += shift
    as_of = at(200) + shift
    result = fold(events, as_of=as_of)
    assert not [r for r in result.rejected_events if r["event_name"] == "config.changed"]
    memory = capture_atoms(events, result, ConfigRegistry.from_events(events), as_of)
    assert {a["atom_id"] for a in memory.atoms} >= {"n9", "e09:won"}


def test_a_retention_that_would_overflow_a_date_is_rejected_and_the_old_one_stays() -> None:
    events = [
        config("cfg", -1, "memory.retention_days.note", 99999999),
        *promoted_pursuit(),
        ev("n1", "pursuit.note_added", "p1", 5, {"text": "kick-off next week"}),
    ]
    as_of = at(60)
    result = fold(events, as_of=as_of)
    assert [(r["event_id"], r["rule"]) for r in result.rejected_events] == [("cfg", "invalid_config")]
    [note] = [
        a
        for a in capture_atoms(events, result, ConfigRegistry.from_events(events), as_of).atoms
        if a["atom_id"] == "n1"
    ]
    assert note["expires_at"] == at(5) + timedelta(days=DEFAULTS["memory.retention_days.note"])
