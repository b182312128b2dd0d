"""The matcher's parameters trained per org: only with enough records, deterministic (any input order
gives the same parameters, rounded, and a version that is their hash), and the fixed parameters when
training does not converge; every link says which parameters its org got."""

from __future__ import annotations

import random

import pytest

from dagster_project.identity import model, training
from dagster_project.identity.resolve import person_features, resolve_people
from dagster_project.identity.synthetic import people

DATA = people(600, seed=5)


def _resolve(records: list[dict], **options) -> object:
    return resolve_people("acme", records, [], region="US", min_records=1, threshold=0.95, **options)


def _used(result) -> set[str]:
    return set(result.links["model_parameters"])


def test_an_org_with_enough_records_is_scored_with_parameters_trained_on_them():
    result = _resolve(DATA.records, train_min_records=len(DATA.records))
    assert _used(result) == {training.TRAINED}
    trained = training.train(person_features(DATA.records, "US"))
    assert trained.used == training.TRAINED and trained.parameters != model.FIXED
    for levels in trained.parameters.values():
        for _, _, m, u in levels:
            assert 0 < m < 1 and 0 < u < 1 and round(m, 6) == m and round(u, 6) == u
    # The version is the trained parameters' hash, not a time, and names them in every output row.
    version = model.model_version(trained.parameters)
    assert version != model.MODEL_VERSION and version.startswith("fs-")
    assert set(result.links["model_version"]) == {version}
    assert set(result.pairs["model_version"]) == {version}


def test_the_same_records_in_any_order_train_the_same_parameters_and_resolve_the_same():
    shuffled = list(DATA.records)
    random.Random(3).shuffle(shuffled)
    first = _resolve(DATA.records, train_min_records=1)
    second = _resolve(shuffled, train_min_records=1)
    assert _used(first) == {training.TRAINED}
    assert all(getattr(first, t).equals(getattr(second, t)) for t in ("links", "pairs", "conflicts"))


def test_an_org_below_the_training_minimum_keeps_the_fixed_parameters():
    result = _resolve(DATA.records, train_min_records=len(DATA.records) + 1)
    assert _used(result) == {training.FIXED}
    assert set(result.links["model_version"]) == {model.MODEL_VERSION}
    rules_only = resolve_people(
        "acme", DATA.records, [], region="US", min_records=10**9, threshold=0.95, train_min_records=1
    )
    assert _used(rules_only) == {training.RULES_ONLY} and rules_only.pairs.is_empty()


def test_training_that_does_not_converge_keeps_the_fixed_parameters(monkeypatch: pytest.MonkeyPatch):
    # One iteration allowed: expectation maximisation stops before it converges.
    monkeypatch.setattr(training, "MAX_ITERATIONS", 1)
    trained = training.train(person_features(DATA.records, "US"))
    assert (trained.used, trained.parameters) == (training.FIXED_NOT_CONVERGED, model.FIXED)
    result = _resolve(DATA.records, train_min_records=1)
    assert _used(result) == {training.FIXED_NOT_CONVERGED}
    assert set(result.pairs["model_version"]) == {model.MODEL_VERSION}
