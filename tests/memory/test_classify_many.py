"""Classifying a batch's notes at once (DuckDB's RE2) gives every note the type and rule `classify` gives it."""

from __future__ import annotations

import pytest

from benchmarks.note_classifier import load
from dagster_project.config.registry import DEFAULTS, NOTE_RULE_MAX_TEXT, NOTE_RULES
from dagster_project.memory import classify as classify_module
from dagster_project.memory.classify import TYPE_PRIORITY, classify, classify_many

RULES = DEFAULTS["memory.note_rules"]

# Texts the labelled file lacks a winner for, and texts at the engines' edges: case folding outside
# ASCII, typographic apostrophes, the lookbehind built-ins, anchors, a long note, NUL, emptiness.
EXTRA = [
    "Our sponsor moved to a different division last week.",
    "She is addressed as Dr Patel.",
    "Route all invoices through her office.",
    "Tuesdays are fine for calls.",
    "They are ok with a phased start.",
    "Mr Smith is fine to email.",
    "We have not agreed anything.",
    "They haven't confirmed the date.",
    "The buyer confirmed the date.",
    "Renewal yet to be confirmed.",
    "She wanted a discount on the renewal.",
    "He wanted a workshop first.",
    "The DÉCIDED list – ÉTÉ approved?",
    "İstanbul office APPROVED the pilot",
    "don\u2019t call before nine",
    "   always   send the agenda first",
    "Scope and pricing, final.",
    "A\x00 decision was made",
    "x" * (NOTE_RULE_MAX_TEXT - 6) + " signed the contract",
    "",
    "Sent the brochure.",
]


def _corpus() -> list[str]:
    return [row["text"] for row in load()] + EXTRA


def test_every_default_rule_wins_for_some_text_of_the_corpus() -> None:
    # Otherwise a rule DuckDB ran differently could go unseen by the next test.
    winners = {classify(text, RULES)[1] for text in _corpus()}
    every = {f"{t}:{p}" for t in TYPE_PRIORITY for p in NOTE_RULES[t]}
    assert every - winners == set()


def test_batch_classification_gives_every_note_the_same_type_and_rule_as_classify() -> None:
    texts = _corpus()
    assert classify_many(texts, RULES) == [classify(text, RULES) for text in texts]


def test_batch_classification_follows_an_orgs_own_rules_and_their_priority() -> None:
    rules = {"preference": [r"\bemail\b"], "risk": [r"\bemail\b", r"(?<!no )\bbudget\b"], "decision": []}
    texts = ["email them", "no budget", "the budget", "nothing here", "Email AND budget"]
    assert classify_many(texts, rules) == [classify(text, rules) for text in texts]
    assert classify_many(texts, rules)[0] == ("risk", r"risk:\bemail\b")


def test_a_pattern_no_engine_compiles_is_skipped_in_a_batch_as_it_is_alone() -> None:
    rules = {"decision": ["(unclosed", r"\bdeal\b"]}
    assert (
        classify_many(["a deal"], rules)
        == [("decision", r"decision:\bdeal\b")]
        == [classify("a deal", rules)]
    )


def test_when_duckdb_cannot_run_the_patterns_each_note_is_classified_alone(monkeypatch) -> None:
    monkeypatch.setattr(classify_module, "_first_re2_match", lambda normals, patterns: None)
    texts = _corpus()[:40]
    assert classify_many(texts, RULES) == [classify(text, RULES) for text in texts]


@pytest.mark.parametrize("texts", [[], ["one note"]])
def test_a_batch_with_few_notes_is_classified_too(texts: list[str]) -> None:
    assert classify_many(texts, RULES) == [classify(text, RULES) for text in texts]
