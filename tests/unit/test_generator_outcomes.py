"""The demo outcomes follow the generator's stated effects (generator/outcomes.py), read back from the events."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from dagster_project.generator import generate
from dagster_project.generator.outcomes import (
    BASE_WIN_RATE,
    EFFECTS,
    FAST_RESPONSE_HOURS,
    RISK_MITIGATION_TAG,
    win_probability,
)
from tests.unit.test_generator import ingest_like, parse_ts

END = datetime(2026, 11, 27, 17, 0, tzinfo=UTC)


def closed_pursuits(events: list[dict]) -> list[tuple[set[str], bool]]:
    """(effects seen in the events, won) for every pursuit that reached won or lost."""
    signals: dict[tuple[str, str], dict] = {}
    cand_signals: dict[tuple[str, str], list[str]] = {}
    pursuit_cand: dict[tuple[str, str], str] = {}
    mitigated: set[tuple[str, str]] = set()
    outcome: dict[tuple[str, str], str] = {}
    ordered = sorted(events, key=lambda ev: (parse_ts(ev["occurred_at"])[0], ev["event_id"]))
    for ev in ordered:
        org, eid, p, name = ev["org_id"], ev["entity_id"], ev["payload"], ev["event_name"]
        at = parse_ts(ev["occurred_at"])[0]
        if name == "signal.created":
            signals[(org, eid)] = {"at": at, "source": p["source_type"], "touched": None}
        elif name == "signal.touched" and signals[(org, eid)]["touched"] is None:
            signals[(org, eid)]["touched"] = at
        elif name == "candidate.created":
            cand_signals[(org, eid)] = p["signal_ids"]
        elif name == "candidate.promoted":
            pursuit_cand[(org, p["pursuit_id"])] = eid
        elif name == "memory.recorded" and RISK_MITIGATION_TAG in p.get("tags", ()):
            mitigated.add((org, eid))
        elif name == "pursuit.stage_changed" and p["to"] in ("won", "lost"):
            outcome[(org, eid)] = p["to"]
    out = []
    for key, result in outcome.items():
        org = key[0]
        first = min(
            (signals[(org, s)] for s in cand_signals[(org, pursuit_cand[key])]), key=lambda s: s["at"]
        )
        effects = set()
        if (org, pursuit_cand[key]) in mitigated:
            effects.add("risk_mitigation")
        if first["touched"] and first["touched"] - first["at"] <= timedelta(hours=FAST_RESPONSE_HOURS):
            effects.add("fast_first_response")
        if first["source"] == "referral":
            effects.add("referral")
        out.append((effects, result == "won"))
    return out


@pytest.fixture(scope="module")
def events(tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    out: Path = tmp_path_factory.mktemp("outcomes")
    generate(out, orgs=2, events=60_000, seed=5, end=END)
    return ingest_like(out)[1]


@pytest.fixture(scope="module")
def outcomes(events) -> list[tuple[set[str], bool]]:
    return closed_pursuits(events)


def test_a_risk_mitigation_note_is_on_record_before_its_pursuit_enters_its_first_stage(events) -> None:
    # A score is given at every stage a pursuit enters, its first (qual, at the promotion) included:
    # the strongest effect must be visible there, not only on the way to submit.
    # Every promotion of the candidate: one the fold refuses is tried again later, with a note of its own
    # before it, so the note must precede a promotion, not whichever one the files happen to list last.
    promoted_at: dict[tuple[str, str], list] = defaultdict(list)
    for ev in events:
        if ev["event_name"] == "candidate.promoted":
            promoted_at[(ev["org_id"], ev["entity_id"])].append(parse_ts(ev["occurred_at"])[0])
    notes = [
        ev
        for ev in events
        if ev["event_name"] == "memory.recorded" and RISK_MITIGATION_TAG in ev["payload"].get("tags", ())
    ]
    assert len(notes) >= 100
    for ev in notes:
        assert ev["entity_type"] == "candidate", ev
        key = (ev["org_id"], ev["entity_id"])
        if key in promoted_at:
            assert any(parse_ts(ev["occurred_at"])[0] < at for at in promoted_at[key]), ev


def test_each_stated_effect_raises_the_win_rate_by_about_its_uplift(outcomes) -> None:
    for effect in EFFECTS:
        groups: dict[bool, list[bool]] = defaultdict(list)
        for effects, won in outcomes:
            groups[effect.name in effects].append(won)
        with_rate = sum(groups[True]) / len(groups[True])
        without_rate = sum(groups[False]) / len(groups[False])
        assert len(groups[True]) >= 80, effect.name
        # The other effects are independent of this one, so the gap estimates its uplift.
        assert abs((with_rate - without_rate) - effect.uplift) < 0.1, (effect.name, with_rate, without_rate)


def test_pursuits_with_no_effect_win_at_the_base_rate(outcomes) -> None:
    plain = [won for effects, won in outcomes if not effects]
    assert len(plain) >= 50
    assert abs(sum(plain) / len(plain) - BASE_WIN_RATE) < 0.1


def test_win_probability_adds_the_stated_uplifts() -> None:
    everything = {e.name for e in EFFECTS}
    assert win_probability(set()) == BASE_WIN_RATE
    assert win_probability(everything) == pytest.approx(BASE_WIN_RATE + sum(e.uplift for e in EFFECTS))
    assert win_probability(everything) <= 1.0
