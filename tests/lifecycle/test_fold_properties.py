"""Property tests: random event sequences over a few entities keep the fold legal, order-free and total."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dagster_project.config.registry import ConfigRegistry
from dagster_project.contract.events import (
    CANDIDATE_TARGET_STATUSES,
    PURSUIT_STAGES,
    REASON_CODES,
    SOURCE_TYPES,
)
from dagster_project.contract.states import (
    CANDIDATE_INITIAL,
    CANDIDATE_STATES,
    PURSUIT_INITIAL,
    PURSUIT_STATES,
    SIGNAL_STATES,
)
from dagster_project.lifecycle.fold import FoldResult, fold
from tests.lifecycle.timeline import PINK, RED, T0

ORG = "acme"
SIGNALS = ("s0", "s1", "s2")
CANDIDATES = ("c0", "c1", "c2")
PURSUITS = ("p0", "p1", "p2")
CLIENTS = ("k0", "k1")
PROPERTY_SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _spec(name: str, entity: st.SearchStrategy[str], payload: st.SearchStrategy[dict[str, Any]]) -> Any:
    return st.tuples(st.just(name), entity, payload)


def _optional(**fields: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({}, optional=fields)


def _state_map(states: tuple[str, ...]) -> st.SearchStrategy[dict[str, list[str]]]:
    return st.dictionaries(
        st.sampled_from(states), st.lists(st.sampled_from(states), unique=True, max_size=3)
    )


_CONFIG = st.one_of(
    st.fixed_dictionaries(
        {"key": st.just("gate_mode"), "value": st.sampled_from(["warn", "enforce", "loose"])}
    ),
    st.fixed_dictionaries(
        {
            "key": st.just("checklist.pink.items"),
            "value": st.lists(st.sampled_from(PINK), unique=True, max_size=3),
        }
    ),
    st.fixed_dictionaries(
        {
            "key": st.just("checklist.red.items"),
            "value": st.lists(st.sampled_from(RED), unique=True, max_size=2),
        }
    ),
    st.fixed_dictionaries({"key": st.just("transitions.pursuit"), "value": _state_map(PURSUIT_STATES)}),
    st.fixed_dictionaries({"key": st.just("transitions.candidate"), "value": _state_map(CANDIDATE_STATES)}),
    st.fixed_dictionaries({"key": st.just("sla.triage.threshold_hours"), "value": st.integers(-2, 48)}),
)

_EVENT = st.one_of(
    _spec(
        "signal.created",
        st.sampled_from(SIGNALS),
        st.builds(lambda s: {"source_type": s}, st.sampled_from(SOURCE_TYPES)),
    ),
    _spec("signal.touched", st.sampled_from(SIGNALS), st.just({"channel": "call"})),
    _spec("signal.dismissed", st.sampled_from(SIGNALS), st.just({"reason": "spam"})),
    _spec("signal.updated", st.sampled_from(SIGNALS), _optional(owner=st.sampled_from(["ann", "bo"]))),
    _spec(
        "client.updated",
        st.sampled_from(CLIENTS),
        _optional(name=st.just("Acme"), industry=st.just("retail")),
    ),
    _spec(
        "candidate.created",
        st.sampled_from(CANDIDATES),
        st.fixed_dictionaries(
            {"title": st.just("t")},
            optional={
                "client_id": st.sampled_from(CLIENTS),
                "signal_ids": st.lists(st.sampled_from(SIGNALS), max_size=2),
                "value_band": st.sampled_from(["low", "med", "high"]),
            },
        ),
    ),
    _spec(
        "candidate.updated",
        st.sampled_from(CANDIDATES),
        _optional(signal_ids=st.lists(st.sampled_from(SIGNALS), max_size=2), owner=st.just("cy")),
    ),
    _spec(
        "candidate.status_changed",
        st.sampled_from(CANDIDATES),
        st.builds(lambda to: {"to": to}, st.sampled_from(CANDIDATE_TARGET_STATUSES)),
    ),
    _spec(
        "candidate.promoted",
        st.sampled_from(CANDIDATES),
        st.builds(lambda p: {"pursuit_id": p, "capture_lead": "bo"}, st.sampled_from(PURSUITS)),
    ),
    _spec(
        "pursuit.stage_changed",
        st.sampled_from(PURSUITS),
        st.fixed_dictionaries(
            {"to": st.sampled_from(PURSUIT_STAGES)}, optional={"reason_code": st.sampled_from(REASON_CODES)}
        ),
    ),
    _spec(
        "pursuit.checklist_item_set",
        st.sampled_from(PURSUITS),
        st.one_of(
            st.fixed_dictionaries(
                {
                    "checklist": st.just("pink"),
                    "item": st.sampled_from([*PINK, "extra"]),
                    "done": st.booleans(),
                }
            ),
            st.fixed_dictionaries(
                {"checklist": st.just("red"), "item": st.sampled_from(RED), "done": st.booleans()}
            ),
        ),
    ),
    _spec(
        "pursuit.proposal_sent",
        st.sampled_from(PURSUITS),
        st.builds(lambda v: {"proposal_id": f"prop{v}", "version": v}, st.integers(1, 2)),
    ),
    _spec("pursuit.updated", st.sampled_from(PURSUITS), _optional(compliance_score=st.integers(0, 10))),
    _spec("candidate.note_added", st.sampled_from(CANDIDATES), st.just({"text": "hello"})),
    _spec("config.changed", st.just(ORG), _CONFIG),
)

ENTITY_TYPE = {"config": "org"}


def _story(candidate: str, pursuit: str) -> list[tuple[str, str, dict[str, Any]]]:
    """The steps of a pursuit that goes all the way; random draws drop, keep or reorder them in time."""
    return [
        ("signal.created", f"s{candidate[1]}", {"source_type": "email"}),
        ("candidate.created", candidate, {"title": "t", "signal_ids": [f"s{candidate[1]}"]}),
        ("candidate.status_changed", candidate, {"to": "triaged"}),
        ("candidate.promoted", candidate, {"pursuit_id": pursuit}),
        ("pursuit.stage_changed", pursuit, {"to": "pink"}),
        *[
            ("pursuit.checklist_item_set", pursuit, {"checklist": "pink", "item": i, "done": True})
            for i in PINK
        ],
        ("pursuit.stage_changed", pursuit, {"to": "red"}),
        *[
            ("pursuit.checklist_item_set", pursuit, {"checklist": "red", "item": i, "done": True})
            for i in RED
        ],
        ("pursuit.stage_changed", pursuit, {"to": "submit"}),
        ("pursuit.proposal_sent", pursuit, {"proposal_id": "prop1"}),
        ("pursuit.stage_changed", pursuit, {"to": "won", "reason_code": "price"}),
    ]


@st.composite
def timelines(draw: st.DrawFn) -> list[dict[str, Any]]:
    steps: list[tuple[tuple[str, str, dict[str, Any]], int]] = []
    for candidate in draw(st.lists(st.sampled_from(CANDIDATES), unique=True, max_size=3)):
        pursuit = draw(st.sampled_from(PURSUITS))
        minute = draw(st.integers(0, 5))
        for step in _story(candidate, pursuit):
            minute += draw(st.integers(0, 2))
            if draw(st.integers(0, 9)) < 8:  # keep most steps, so stories get far
                steps.append((step, minute))
    for noise in draw(st.lists(_EVENT, max_size=25)):
        steps.append((noise, draw(st.integers(0, 40))))
    for payload in draw(st.lists(_CONFIG, max_size=3)):
        steps.append((("config.changed", ORG, payload), draw(st.integers(0, 30))))
    if draw(st.booleans()):  # imports from systems without gates
        steps.append(
            (("config.changed", ORG, {"key": "gate_mode", "value": "warn"}), draw(st.integers(0, 20)))
        )
    if not steps:
        steps.append((draw(_EVENT), 0))
    # few distinct instants, so same-instant ties (and config-first ordering) are common
    ids = draw(st.permutations(range(len(steps))))
    events = []
    for ((name, entity_id, payload), minute), number in zip(steps, ids, strict=True):
        prefix = name.split(".")[0]
        events.append(
            {
                "event_id": f"e{number:03d}",
                "org_id": ORG,
                "occurred_at": T0 + timedelta(minutes=minute),
                "event_name": name,
                "entity_type": ENTITY_TYPE.get(prefix, prefix),
                "entity_id": entity_id,
                "actor": None,
                "payload": payload,
            }
        )
    return events


@PROPERTY_SETTINGS
@given(timelines())
def test_states_are_legal_and_every_transition_was_allowed_or_warned(events: list[dict[str, Any]]) -> None:
    result = fold(events)
    registry = ConfigRegistry.from_events(events)
    assert all(c["status"] in CANDIDATE_STATES for c in result.candidates)
    assert all(p["stage"] in PURSUIT_STATES for p in result.pursuits)
    assert all(s["status"] in SIGNAL_STATES for s in result.signals)
    warned_ids = {r["event_id"] for r in result.rejected_events if r["outcome"] == "warned"}
    last_state: dict[tuple[str, str], str] = {}
    for t in result.transitions:
        key = (t["entity_type"], t["entity_id"])
        assert t["from_state"] == last_state.get(key)  # transitions chain without gaps
        last_state[key] = t["to_state"]
        if t["from_state"] is None:
            initial = {"candidate": CANDIDATE_INITIAL, "pursuit": PURSUIT_INITIAL}.get(t["entity_type"])
            assert initial is None or t["to_state"] == initial
            continue
        if t["entity_type"] in ("candidate", "pursuit"):
            tmap = registry.value(ORG, f"transitions.{t['entity_type']}", t["occurred_at"])
            allowed = tmap.get(t["from_state"], ())
            if t["warned"]:
                assert allowed, "a warned event never leaves a terminal state"
                assert t["event_id"] in warned_ids
            else:
                assert t["to_state"] in allowed
    # the current state is where the transitions lead
    current = {("candidate", c["candidate_id"]): c["status"] for c in result.candidates}
    current |= {("pursuit", p["pursuit_id"]): p["stage"] for p in result.pursuits}
    current |= {("signal", s["signal_id"]): s["status"] for s in result.signals}
    assert current == last_state


@PROPERTY_SETTINGS
@given(timelines(), st.data())
def test_any_permutation_gives_identical_results(events: list[dict[str, Any]], data: st.DataObject) -> None:
    shuffled = data.draw(st.permutations(events))
    assert fold(shuffled) == fold(events)
    # and as-of is the same as leaving the later events out
    cut = data.draw(st.sampled_from(sorted({e["occurred_at"] for e in events})))
    assert fold(shuffled, as_of=cut) == fold([e for e in events if e["occurred_at"] <= cut])


@PROPERTY_SETTINGS
@given(timelines())
def test_every_event_is_accounted_for_exactly_once(events: list[dict[str, Any]]) -> None:
    result: FoldResult = fold(events)
    assert set(result.outcomes) == {(ORG, e["event_id"]) for e in events}
    by_outcome: dict[str, set[str]] = {}
    for (_, event_id), outcome in result.outcomes.items():
        by_outcome.setdefault(outcome, set()).add(event_id)
    assert set(by_outcome) <= {"applied", "warned", "rejected", "ignored"}
    rows = {r["event_id"]: r["outcome"] for r in result.rejected_events}
    assert len(rows) == len(result.rejected_events)  # at most one rule per event
    assert {i for i, o in rows.items() if o == "rejected"} == by_outcome.get("rejected", set())
    assert {i for i, o in rows.items() if o == "warned"} == by_outcome.get("warned", set())
    assert {t["event_id"] for t in result.transitions}.isdisjoint(
        by_outcome.get("rejected", set()) | by_outcome.get("ignored", set())
    )
    ignored = {e["event_id"] for e in events if e["event_name"].endswith("note_added")}
    assert by_outcome.get("ignored", set()) == ignored
