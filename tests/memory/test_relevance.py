"""Score and relevance against hand computation (contract "Memory defaults")."""

from __future__ import annotations

from datetime import timedelta

import pytest

from dagster_project.config.registry import ConfigRegistry
from dagster_project.memory.relevance import relevance, score_atoms
from tests.lifecycle.timeline import T0, config

ORG = "acme"


def test_defaults_by_hand() -> None:
    registry = ConfigRegistry()
    # a decision 90 days old: 100 × 0.5^(90/180) = 70.7107
    r = relevance("decision", T0, T0 + timedelta(days=90), registry, ORG)
    assert r["score"] == 100 and r["base_score"] == 100 and r["trust_weight"] == 1
    assert r["age_days"] == 90 and r["half_life_days"] == 180 and r["pinned"] is False
    assert r["decay"] == pytest.approx(0.7071067811865476)
    assert r["relevance"] == pytest.approx(70.71067811865476)
    # a note 45 days old: 60 × 0.5^(45/30) = 21.2132
    assert relevance("note", T0, T0 + timedelta(days=45), registry, ORG)["relevance"] == pytest.approx(
        21.213203435596427
    )
    # a status 12 hours old: 40 × 0.5^(0.5/30)
    r = relevance("status", T0, T0 + timedelta(hours=12), registry, ORG)
    assert r["age_days"] == 0.5 and r["relevance"] == pytest.approx(40 * 0.5 ** (0.5 / 30))
    # risk and preference, brand new: no decay yet
    assert relevance("risk", T0, T0, registry, ORG)["relevance"] == 90
    assert relevance("preference", T0, T0, registry, ORG)["relevance"] == 80
    # an atom dated after T never gets a negative age
    assert relevance("note", T0 + timedelta(days=1), T0, registry, ORG)["age_days"] == 0


def test_trust_weight_scales_zero_means_zero_and_the_cap() -> None:
    registry = ConfigRegistry()
    at = T0 + timedelta(days=30)
    half = relevance("risk", T0, at, registry, ORG, trust_weight=0.5)
    assert half["score"] == 45 and half["relevance"] == pytest.approx(45 * 0.5 ** (30 / 180))
    zero = relevance("decision", T0, at, registry, ORG, trust_weight=0)
    assert zero["score"] == 0 and zero["relevance"] == 0 and zero["trust_weight"] == 0
    assert relevance("note", T0, at, registry, ORG, trust_weight=None)["trust_weight"] == 1
    boosted = ConfigRegistry.from_events([config("c1", -10, "memory.score.risk", 150)])
    assert relevance("risk", T0, T0, boosted, ORG)["score"] == 100  # capped


def test_pinned_types_do_not_decay_and_config_in_force_at_t() -> None:
    events = [
        config("c1", 0, "memory.pinned_types", ["decision"]),
        config("c2", 0, "memory.half_life_days.note", 10),
        config("c3", 60 * 24 * 400, "memory.pinned_types", []),  # unpinned 400 days later
    ]
    registry = ConfigRegistry.from_events(events)
    t = T0 + timedelta(days=365)
    pinned = relevance("decision", T0, t, registry, ORG)
    assert pinned["pinned"] is True and pinned["decay"] == 1 and pinned["relevance"] == 100
    note = relevance("note", T0, t, registry, ORG)
    assert note["half_life_days"] == 10 and note["relevance"] == pytest.approx(60 * 0.5**36.5)
    later = relevance("decision", T0, T0 + timedelta(days=450), registry, ORG)
    assert later["pinned"] is False and later["relevance"] == pytest.approx(100 * 0.5 ** (450 / 180))
    assert relevance("decision", T0, t, registry, "other-org")["pinned"] is False  # tenants never mix


def test_score_atoms_adds_the_components() -> None:
    atom = {"org_id": ORG, "atom_id": "a", "atom_type": "preference", "occurred_at": T0, "trust_weight": 0.75}
    (row,) = score_atoms([atom], ConfigRegistry(), T0 + timedelta(days=180))
    assert row["atom_id"] == "a" and row["score"] == 60 and row["relevance"] == pytest.approx(30)
    assert set(row) >= {"base_score", "trust_weight", "age_days", "half_life_days", "decay", "pinned"}
