"""The rule-based note classifier: per-type cases, priority, config rules, and measured quality floors."""

from __future__ import annotations

import re

import pytest

from benchmarks.note_classifier import evaluate, load
from dagster_project.config.registry import (
    DEFAULTS,
    NOTE_RULE_MAX_TEXT,
    NOTE_RULES,
    ConfigRegistry,
    validate_change,
)
from dagster_project.memory.classify import classify
from tests.lifecycle.timeline import at, config

RULES = DEFAULTS["memory.note_rules"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The client agreed to a two-year term.", "decision"),
        ("Board approved the budget this morning.", "decision"),
        ("They selected us over two other bidders.", "decision"),
        ("Contract signed yesterday.", "decision"),
        ("Our champion is leaving in March.", "risk"),
        ("Procurement went silent after the demo.", "risk"),
        ("Legal has concerns about the indemnity clause.", "risk"),
        ("A competitor is offering a lower price.", "risk"),
        ("She prefers calls in the morning.", "preference"),
        ("They would rather receive a single invoice.", "preference"),
        ("Always CC the finance director.", "preference"),
        ("Sent the brochure.", "note"),
        ("Their office is in Leeds.", "note"),
        ("Decision meeting is on Thursday.", "note"),  # hard negative: a meeting, not a decision
        ("No decision yet.", "note"),
        ("", "note"),
    ],
)
def test_default_rules_per_type(text: str, expected: str) -> None:
    assert classify(text, RULES)[0] == expected


def test_priority_decision_over_risk_over_preference_and_explanation() -> None:
    atom_type, rule = classify("Agreed to their discount request despite the competitor.", RULES)
    assert atom_type == "decision" and rule is not None and rule.startswith("decision:")
    assert classify("Worried about timing; prefers email.", RULES)[0] == "risk"
    assert classify("Sent notes.", RULES) == ("note", None)
    rules = {"preference": [r"\bemail\b"], "risk": [r"\bemail\b"]}
    assert classify("email them", rules) == ("risk", r"risk:\bemail\b")  # priority, not dict order
    assert classify("Typographic don\u2019t call before 9", RULES)[0] == "preference"  # ’ normalised


def test_rules_live_in_the_registry_and_bad_rules_are_invalid_config() -> None:
    registry = ConfigRegistry.from_events(
        [
            config("c1", 0, "memory.note_rules", {"decision": ["\\bhandshake\\b"]}),
            config("c2", 5, "memory.note_rules", {"risk": ["(unclosed"]}),
            config("c3", 6, "memory.note_rules", {"gossip": ["x"]}),
            config("c4", 7, "memory.note_rules", ["x"]),
        ]
    )
    rules = registry.value("acme", "memory.note_rules", at(10))
    assert classify("handshake deal", rules)[0] == "decision"
    assert classify("prefers email", rules)[0] == "note"  # an override replaces the whole map
    assert [r["event_id"] for r in registry.rejections] == ["c2", "c3", "c4"]
    assert all(r["rule"] == "invalid_config" for r in registry.rejections)
    assert validate_change({"key": "memory.note_rules", "value": RULES}).ok
    too_long = {"risk": ["x" * 301]}
    assert "longer than" in validate_change({"key": "memory.note_rules", "value": too_long}).detail


def test_labelled_file_size_and_balance() -> None:
    rows = load()
    assert len(rows) >= 150
    for label in ("preference", "risk", "decision"):
        assert sum(r["label"] == label for r in rows) >= 40
    assert sum(r["label"] == "note" for r in rows) >= 30
    assert {r["split"] for r in rows} == {"dev", "holdout"}
    assert len(load(split="holdout")) >= 60


# Floors = the measured figures (benchmarks/note_classifier.py), rounded down. `dev` was used to shape
# the rules; `holdout` was written after they were frozen and never used to change them.
DEV_FLOORS = {"accuracy": 0.97, "decision": (0.98, 1.0), "risk": (1.0, 0.96), "preference": (0.98, 0.96)}
HOLDOUT_FLOORS = {"accuracy": 0.63, "decision": (0.91, 0.73), "risk": (0.83, 0.33), "preference": (1.0, 0.53)}


@pytest.mark.parametrize(("split", "floors"), [("dev", DEV_FLOORS), ("holdout", HOLDOUT_FLOORS)])
def test_classifier_reaches_the_reported_precision_and_recall(split: str, floors: dict) -> None:
    result = evaluate(load(split=split))
    assert result["accuracy"] >= floors["accuracy"]
    for atom_type in ("decision", "risk", "preference"):
        precision, recall = floors[atom_type]
        measured = result["per_type"][atom_type]
        assert measured["precision"] >= precision, (atom_type, measured)
        assert measured["recall"] >= recall, (atom_type, measured)


@pytest.mark.parametrize(
    "pattern",
    [r"(?<!not )\brisky\b", r"\brisk(?= ahead)", r"(\w+) \1"],  # lookbehind, lookahead, backreference
)
def test_an_org_pattern_the_linear_time_engine_cannot_run_is_invalid_config(pattern: str) -> None:
    verdict = validate_change({"key": "memory.note_rules", "value": {"risk": [pattern]}})
    assert not verdict.ok and verdict.rule == "invalid_config"
    assert "RE2" in (verdict.detail or "")


def test_an_org_may_keep_the_built_in_patterns_that_use_lookbehind() -> None:
    lookbehind = [p for p in NOTE_RULES["decision"] if "(?<!" in p]
    assert lookbehind and validate_change({"key": "memory.note_rules", "value": {"decision": lookbehind}}).ok
    assert classify("The client agreed.", {"decision": lookbehind})[0] == "decision"
    assert classify("The client has not agreed.", {"decision": lookbehind})[0] == "note"


# A guard, not a measure: backtracking needs about 2**64 steps for this text and would never end.
@pytest.mark.timeout(120)
def test_a_pattern_with_nested_quantifiers_cannot_stall_the_apply() -> None:
    rules = {"risk": ["(a+)+$"]}
    assert validate_change({"key": "memory.note_rules", "value": rules}).ok
    assert classify("a" * 64 + "!", rules) == ("note", None)
    assert classify("a" * 64, rules) == ("risk", "risk:(a+)+$")


def test_rules_read_only_the_first_characters_of_a_long_note() -> None:
    rules = {"decision": [r"\bdecided\b"]}
    assert classify("decided " + "x" * NOTE_RULE_MAX_TEXT, rules)[0] == "decision"
    assert classify("x" * NOTE_RULE_MAX_TEXT + " decided", rules)[0] == "note"


def test_only_the_built_in_patterns_that_need_lookaround_leave_the_linear_time_engine() -> None:
    # A hostile note must not make the built-ins backtrack either: `re` only where RE2 cannot go.
    from dagster_project.memory.classify import _compiled

    on_re = sorted(p for ps in NOTE_RULES.values() for p in ps if isinstance(_compiled(p), re.Pattern))
    assert on_re and all("(?<" in p or "(?=" in p or "(?!" in p for p in on_re)
    assert _compiled(r"\bbudget\b").search("The BUDGET is set")
