"""The matcher's precision and recall on people with planted duplicates (known truth): the model finds
duplicates the rules miss without merging different people, and the rules alone never merge wrongly;
parameters trained on the org's own records keep the same bar at this size."""

from __future__ import annotations

from dagster_project.identity.resolve import resolve_people
from dagster_project.identity.synthetic import pairwise_quality, people


def _quality(min_records: int, train_min_records: int | None = None) -> tuple[float, float]:
    data = people(800, seed=11)
    result = resolve_people(
        "acme",
        data.records,
        [],
        region="US",
        min_records=min_records,
        threshold=0.95,
        train_min_records=train_min_records,
    )
    return pairwise_quality(result.links.to_dicts(), data.truth)


def test_the_rules_alone_are_exact_and_the_model_adds_recall_at_high_precision():
    rules_precision, rules_recall = _quality(min_records=10**9)
    model_precision, model_recall = _quality(min_records=1)
    assert rules_precision == 1.0
    assert model_recall > rules_recall
    assert model_precision >= 0.98 and model_recall >= 0.75


def test_parameters_trained_on_the_org_keep_the_quality_bar_at_this_size():
    fixed_precision, fixed_recall = _quality(min_records=1)
    trained_precision, trained_recall = _quality(min_records=1, train_min_records=1)
    assert (trained_precision, trained_recall) != (fixed_precision, fixed_recall)  # they were trained
    assert trained_precision >= 0.98 and trained_recall >= 0.75


def test_the_quality_measure_counts_pairs():
    truth = {"contact:a": "p1", "contact:b": "p1", "contact:c": "p1", "contact:d": "p2"}
    links = [{"canonical_id": "a", "record_type": "contact", "record_id": r} for r in ("a", "b")] + [
        {"canonical_id": "c", "record_type": "contact", "record_id": r} for r in ("c", "d")
    ]
    precision, recall = pairwise_quality(links, truth)
    assert (precision, recall) == (0.5, 1 / 3)
