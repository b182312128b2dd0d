"""The lifecycle fold on hand-written timelines: the happy path, each rule code, warn mode, late events."""

from __future__ import annotations

from typing import Any

import pytest

from dagster_project.lifecycle.fold import (
    CANDIDATE_COLUMNS,
    CLIENT_COLUMNS,
    PURSUIT_COLUMNS,
    REJECTED_COLUMNS,
    SIGNAL_COLUMNS,
    TRANSITION_COLUMNS,
    FoldResult,
    fold,
    fold_all,
)
from tests.lifecycle.timeline import PINK, RED, at, checklist, config, ev, happy_path, promoted_pursuit


def one(rows: list[dict[str, Any]], **match: Any) -> dict[str, Any]:
    found = [r for r in rows if all(r[k] == v for k, v in match.items())]
    assert len(found) == 1, found
    return found[0]


def rejection(result: FoldResult, event_id: str) -> dict[str, Any]:
    return one(result.rejected_events, event_id=event_id)


def test_happy_path_to_won() -> None:
    result = fold(happy_path())
    assert result.rejected_events == []
    pursuit = one(result.pursuits, pursuit_id="p1")
    assert pursuit["stage"] == "won"
    assert pursuit["candidate_id"] == "c1" and pursuit["client_id"] == "cl1"
    assert pursuit["owner"] == "bo" and str(pursuit["due_date"]) == "2026-04-01"
    assert pursuit["pink_missing"] == [] and pursuit["pink_completion_pct"] == 100.0
    assert pursuit["red_checklist"] == dict.fromkeys(RED, True)
    assert pursuit["proposals_sent"] == 1 and pursuit["first_proposal_sent_at"] == at(55)
    assert pursuit["latest_proposal_id"] == "prop1"
    assert (pursuit["outcome"], pursuit["reason_code"], pursuit["missing_reason"]) == ("won", "price", False)
    assert pursuit["closed_at"] == pursuit["entered_state_at"] == at(60)
    candidate = one(result.candidates, candidate_id="c1")
    assert (candidate["status"], candidate["pursuit_id"], candidate["signal_ids"]) == (
        "promoted",
        "p1",
        ["sig1"],
    )
    signal = one(result.signals, signal_id="sig1")
    assert signal["status"] == "linked" and signal["linked_candidate_id"] == "c1"
    assert signal["first_touched_at"] == signal["linked_at"] == at(3)  # a link is a touch
    assert result.clients == [
        {
            "org_id": "acme",
            "client_id": "cl1",
            "name": None,
            "domain": None,
            "industry": None,
            "source_system": None,
            "source_id": None,
            "created_at": at(0),
            "last_event_at": None,
        }
    ]
    path = [(t["entity_type"], t["from_state"], t["to_state"]) for t in result.transitions]
    assert path == [
        ("signal", None, "open"),
        ("candidate", None, "new"),
        ("candidate", "new", "triaged"),
        ("candidate", "triaged", "promoted"),
        ("pursuit", None, "qual"),
        ("signal", "open", "linked"),
        ("pursuit", "qual", "pink"),
        ("pursuit", "pink", "red"),
        ("pursuit", "red", "submit"),
        ("pursuit", "submit", "won"),
    ]
    assert not any(t["warned"] for t in result.transitions)
    assert result.outcomes[("acme", "n01")] == "ignored"
    assert {v for k, v in result.outcomes.items() if k[1] != "n01"} == {"applied"}
    # stable column sets
    assert tuple(pursuit) == PURSUIT_COLUMNS and tuple(candidate) == CANDIDATE_COLUMNS
    assert tuple(signal) == SIGNAL_COLUMNS and tuple(result.clients[0]) == CLIENT_COLUMNS
    assert tuple(result.transitions[0]) == TRANSITION_COLUMNS


def test_illegal_transitions() -> None:
    result = fold(
        [
            ev("e1", "candidate.created", "c1", 0, {"title": "t"}),
            ev("e2", "candidate.promoted", "c1", 1, {"pursuit_id": "p1"}),  # new -> promoted
            ev("e3", "candidate.status_changed", "c1", 2, {"to": "archived"}),
            ev("e4", "candidate.status_changed", "c1", 3, {"to": "triaged"}),  # out of terminal
            ev("e5", "candidate.created", "c1", 4, {"title": "again"}),
            *promoted_pursuit("b", candidate="c2", pursuit="p2"),
            ev("e6", "pursuit.stage_changed", "p2", 5, {"to": "red"}),  # qual -> red
        ]
    )
    assert rejection(result, "e2")["rule"] == "illegal_transition"
    assert "new → promoted not allowed (from new: triaged, archived)" in rejection(result, "e2")["detail"]
    assert "archived is terminal" in rejection(result, "e4")["detail"]
    assert "already exists" in rejection(result, "e5")["detail"]
    assert rejection(result, "e6")["rule"] == "illegal_transition"
    assert one(result.candidates, candidate_id="c1")["status"] == "archived"
    assert one(result.candidates, candidate_id="c1")["title"] == "t"
    assert one(result.pursuits, pursuit_id="p2")["stage"] == "qual"
    assert {r["outcome"] for r in result.rejected_events} == {"rejected"}
    assert tuple(result.rejected_events[0]) == REJECTED_COLUMNS


def test_unknown_entities() -> None:
    result = fold(
        [
            ev("e1", "candidate.status_changed", "c1", 0, {"to": "triaged"}),
            ev("e2", "pursuit.stage_changed", "p1", 0, {"to": "pink"}),
            ev("e3", "signal.touched", "s1", 0, {"channel": "call"}),
            ev("e4", "pursuit.proposal_sent", "p1", 1, {"proposal_id": "x"}),
            ev("e5", "candidate.updated", "c1", 1, {"title": "x"}),
            ev("e6", "signal.dismissed", "s1", 1),
            ev("e7", "signal.created", "s1", 5, {"source_type": "web"}),
            ev("e8", "pursuit.checklist_item_set", "p1", 6, {"checklist": "pink", "item": "a", "done": True}),
        ]
    )
    rejected = {r["event_id"]: r["rule"] for r in result.rejected_events}
    assert rejected == dict.fromkeys(["e1", "e2", "e3", "e4", "e5", "e6", "e8"], "unknown_entity")
    assert "pursuit 'p1' does not exist at 2026-03-02T09:00:00+00:00" in rejection(result, "e2")["detail"]
    assert one(result.signals, signal_id="s1")["status"] == "open"


def test_late_creating_event_is_accepted_on_refold() -> None:
    status = ev("e2", "candidate.status_changed", "c1", 10, {"to": "triaged"})
    first = fold([status])
    assert rejection(first, "e2")["rule"] == "unknown_entity"
    # the creating event arrives later but happened earlier: re-folding by event time accepts both
    created = ev("e1", "candidate.created", "c1", 5, {"title": "t"})
    second = fold([status, created])
    assert second.rejected_events == []
    assert one(second.candidates, candidate_id="c1")["status"] == "triaged"


def test_pink_gate_names_missing_items() -> None:
    events = [
        *promoted_pursuit(),
        ev("e4", "pursuit.stage_changed", "p1", 3, {"to": "pink"}),
        ev("e5", "pursuit.stage_changed", "p1", 4, {"to": "red"}),
        *checklist("pk", "p1", 5, "pink", PINK[:2]),
        ev("e6", "pursuit.checklist_item_set", "p1", 5, {"checklist": "pink", "item": PINK[2], "done": True}),
        ev(
            "e7", "pursuit.checklist_item_set", "p1", 6, {"checklist": "pink", "item": PINK[2], "done": False}
        ),
        ev("e8", "pursuit.stage_changed", "p1", 7, {"to": "submit"}),
    ]
    result = fold(events)
    row = rejection(result, "e8")
    assert row["rule"] == "gate:pink_incomplete"
    assert row["detail"] == "pink checklist incomplete: decision_makers_identified, timeline_agreed"
    pursuit = one(result.pursuits, pursuit_id="p1")
    assert pursuit["stage"] == "red"
    assert pursuit["pink_completion_pct"] == 50.0
    assert pursuit["pink_missing"] == PINK[2:]


def _at_submit(prefix: str = "") -> list[dict[str, Any]]:
    return [
        *promoted_pursuit(),
        ev("e4", "pursuit.stage_changed", "p1", 3, {"to": "pink"}),
        ev("e5", "pursuit.stage_changed", "p1", 4, {"to": "red"}),
        *checklist("pk", "p1", 5, "pink", PINK),
        ev("e6", "pursuit.stage_changed", "p1", 6, {"to": "submit"}),
    ]


def test_red_gate_and_sent_proposal_gate() -> None:
    result = fold(
        [
            *_at_submit(),
            ev("g1", "pursuit.stage_changed", "p1", 10, {"to": "lost", "reason_code": "price"}),
            ev("g2", "pursuit.stage_changed", "p1", 11, {"to": "won", "reason_code": "price"}),
            *checklist("rd", "p1", 12, "red", RED[1:]),
            ev("g3", "pursuit.stage_changed", "p1", 13, {"to": "won"}),
            *checklist("rx", "p1", 14, "red", RED[:1]),
            ev("g4", "pursuit.stage_changed", "p1", 15, {"to": "won"}),
            ev("g5", "pursuit.proposal_sent", "p1", 16, {"proposal_id": "v1", "version": 1}),
            ev("g6", "pursuit.proposal_sent", "p1", 17, {"proposal_id": "v2", "version": 2}),
            ev("g7", "pursuit.stage_changed", "p1", 18, {"to": "won"}),
        ]
    )
    assert rejection(result, "g1")["rule"] == "gate:red_incomplete"
    assert rejection(result, "g1")["detail"] == "red checklist incomplete: " + ", ".join(RED)
    assert rejection(result, "g2")["detail"].endswith("; no sent proposal")
    assert (
        rejection(result, "g3")["detail"] == "red checklist incomplete: proposal_reviewed; no sent proposal"
    )
    assert rejection(result, "g4")["rule"] == "gate:no_sent_proposal"
    assert result.outcomes[("acme", "g7")] == "applied"
    pursuit = one(result.pursuits, pursuit_id="p1")
    assert (pursuit["stage"], pursuit["proposals_sent"], pursuit["latest_proposal_id"]) == ("won", 2, "v2")
    assert pursuit["latest_proposal_version"] == 2 and pursuit["first_proposal_sent_at"] == at(16)
    assert pursuit["missing_reason"] is True and pursuit["reason_code"] is None


def test_lost_without_reason_is_applied_and_flagged() -> None:
    result = fold([*promoted_pursuit(), ev("e4", "pursuit.stage_changed", "p1", 3, {"to": "lost"})])
    pursuit = one(result.pursuits, pursuit_id="p1")
    assert (pursuit["stage"], pursuit["outcome"], pursuit["missing_reason"]) == ("lost", "lost", True)
    assert pursuit["closed_at"] == at(3)
    assert result.rejected_events == []


def test_pursuit_id_taken_and_second_promotion() -> None:
    result = fold(
        [
            *promoted_pursuit(),
            ev("x1", "candidate.created", "c2", 0, {"title": "other"}),
            ev("x2", "candidate.status_changed", "c2", 1, {"to": "triaged"}),
            ev("x3", "candidate.promoted", "c2", 3, {"pursuit_id": "p1"}),
            config("cfg", 4, "transitions.candidate", {"promoted": ["triaged"], "triaged": ["promoted"]}),
            ev("e4", "candidate.status_changed", "c1", 5, {"to": "triaged"}),
            ev("e5", "candidate.promoted", "c1", 6, {"pursuit_id": "p9"}),
        ]
    )
    row = rejection(result, "x3")
    assert row["rule"] == "pursuit_id_taken" and row["detail"] == "pursuit 'p1' belongs to candidate 'c1'"
    assert one(result.candidates, candidate_id="c2")["status"] == "triaged"
    assert "already promoted to pursuit 'p1'" in rejection(result, "e5")["detail"]
    assert [p["pursuit_id"] for p in result.pursuits] == ["p1"]


def test_invalid_config_is_rejected_and_the_old_value_stays() -> None:
    result = fold(
        [
            *_at_submit(),
            config("cfg", 7, "checklist.red.items", []),
            config("cfg2", 7, "sla.nope", 1),
            ev("g1", "pursuit.stage_changed", "p1", 8, {"to": "lost"}),
        ]
    )
    assert {r["event_id"]: r["rule"] for r in result.rejected_events} == {
        "cfg": "invalid_config",
        "cfg2": "invalid_config",
        "g1": "gate:red_incomplete",
    }
    assert result.outcomes[("acme", "cfg")] == "rejected"
    assert not any(r["source"] == "override" for r in result.config_registry)


def test_config_change_at_the_same_instant_as_a_gate_event_applies_first() -> None:
    base = [
        *promoted_pursuit(),
        ev("e4", "pursuit.stage_changed", "p1", 3, {"to": "pink"}),
        ev("e5", "pursuit.stage_changed", "p1", 4, {"to": "red"}),
        ev("e6", "pursuit.checklist_item_set", "p1", 5, {"checklist": "pink", "item": PINK[0], "done": True}),
        # event id sorts before the config change's: event time, not the id, decides "config first"
        ev("a0", "pursuit.stage_changed", "p1", 6, {"to": "submit"}),
    ]
    assert rejection(fold(base), "a0")["rule"] == "gate:pink_incomplete"
    narrowed = fold([*base, config("z9", 6, "checklist.pink.items", [PINK[0]])])
    assert narrowed.rejected_events == []
    assert one(narrowed.pursuits, pursuit_id="p1")["stage"] == "submit"
    # one microsecond later it is not yet in force
    late = config("z9", 6, "checklist.pink.items", [PINK[0]])
    late["occurred_at"] = at(6).replace(microsecond=1)
    assert rejection(fold([*base, late]), "a0")["rule"] == "gate:pink_incomplete"
    # a change back at a later instant applies to later events only
    warn = fold([*base, config("w", 6, "gate_mode", "warn"), config("w2", 7, "gate_mode", "enforce")])
    assert rejection(warn, "a0")["outcome"] == "warned"


def test_warn_mode_applies_and_records_but_never_leaves_a_terminal_state() -> None:
    result = fold(
        [
            config("cfg", -1, "gate_mode", "warn"),
            ev("e1", "candidate.created", "c1", 0, {"title": "t"}),
            ev("e2", "candidate.promoted", "c1", 1, {"pursuit_id": "p1"}),  # new -> promoted: warned
            ev("e3", "pursuit.stage_changed", "p1", 2, {"to": "submit"}),  # illegal: warned
            ev(
                "e4", "pursuit.stage_changed", "p1", 3, {"to": "won", "reason_code": "price"}
            ),  # gates: warned
            ev("e5", "pursuit.stage_changed", "p1", 4, {"to": "lost"}),  # out of terminal: rejected
            ev("e6", "candidate.status_changed", "c1", 5, {"to": "archived"}),  # out of terminal: rejected
            ev("e7", "candidate.created", "c1", 6, {"title": "again"}),  # never warned
        ]
    )
    outcomes = {r["event_id"]: (r["rule"], r["outcome"]) for r in result.rejected_events}
    assert outcomes == {
        "e2": ("illegal_transition", "warned"),
        "e3": ("illegal_transition", "warned"),
        "e4": ("gate:red_incomplete", "warned"),
        "e5": ("illegal_transition", "rejected"),
        "e6": ("illegal_transition", "rejected"),
        "e7": ("illegal_transition", "rejected"),
    }
    assert one(result.pursuits, pursuit_id="p1")["stage"] == "won"
    assert one(result.candidates, candidate_id="c1")["status"] == "promoted"
    warned = [(t["entity_type"], t["to_state"]) for t in result.transitions if t["warned"]]
    assert warned == [("candidate", "promoted"), ("pursuit", "submit"), ("pursuit", "won")]
    assert result.outcomes[("acme", "e4")] == "warned"


def test_transitions_override_replaces_the_whole_map() -> None:
    result = fold(
        [
            *promoted_pursuit(),
            config("cfg", 2.5, "transitions.pursuit", {"qual": ["submit"], "submit": ["won", "lost"]}),
            ev("e4", "pursuit.stage_changed", "p1", 3, {"to": "pink"}),  # allowed by default, not any more
            ev(
                "e5", "pursuit.stage_changed", "p1", 4, {"to": "submit"}
            ),  # allowed now, but the pink gate holds
            *checklist("pk", "p1", 5, "pink", PINK),
            ev("e6", "pursuit.stage_changed", "p1", 6, {"to": "submit"}),
        ]
    )
    assert rejection(result, "e4")["detail"] == "pursuit qual → pink not allowed (from qual: submit)"
    assert rejection(result, "e5")["rule"] == "gate:pink_incomplete"
    assert one(result.pursuits, pursuit_id="p1")["stage"] == "submit"


def test_signals_touch_link_dismiss() -> None:
    result = fold(
        [
            ev("s1", "signal.created", "sig1", 0, {"source_type": "call", "owner": "ann"}),
            ev("s2", "signal.touched", "sig1", 1, {"channel": "call"}),
            ev("s3", "signal.touched", "sig1", 2),
            ev("s4", "signal.created", "sig2", 0, {"source_type": "ad"}),
            ev("s5", "signal.dismissed", "sig2", 3, {"reason": "spam"}),
            ev("s6", "signal.updated", "sig2", 4, {"owner": "cy"}),
            # sig3 is linked before it exists: it starts linked when created
            ev("c1", "candidate.created", "c1", 5, {"title": "t", "signal_ids": ["sig1", "sig3", "sig1"]}),
            ev("s7", "signal.created", "sig3", 6, {"source_type": "web"}),
            ev("c2", "candidate.created", "c2", 7, {"title": "u", "signal_ids": ["sig1"]}),
        ]
    )
    sig1 = one(result.signals, signal_id="sig1")
    assert (sig1["status"], sig1["first_touched_at"], sig1["linked_at"]) == ("linked", at(1), at(5))
    assert sig1["linked_candidate_ids"] == ["c1", "c2"] and sig1["entered_state_at"] == at(5)
    sig2 = one(result.signals, signal_id="sig2")
    assert (sig2["status"], sig2["dismissed_at"], sig2["owner"]) == ("dismissed", at(3), "cy")
    sig3 = one(result.signals, signal_id="sig3")
    assert (sig3["status"], sig3["linked_at"], sig3["linked_candidate_id"]) == ("linked", at(6), "c1")
    assert one(result.candidates, candidate_id="c1")["signal_ids"] == ["sig1", "sig3"]
    signal_moves = [(t["entity_id"], t["from_state"], t["to_state"]) for t in result.transitions]
    assert ("sig1", "open", "touched") in signal_moves and ("sig3", None, "linked") in signal_moves
    assert ("sig1", "touched", "linked") in signal_moves


def test_field_updates_and_clients() -> None:
    result = fold(
        [
            ev("k1", "client.updated", "cl9", 0, {"name": "Acme", "domain": "acme.test"}),
            *promoted_pursuit(),
            ev("u1", "candidate.updated", "c1", 3, {"client_id": "cl9", "value_band": "high", "tags": ["x"]}),
            ev("u2", "pursuit.updated", "p1", 4, {"compliance_score": 8.5, "capture_lead": "di"}),
            ev("u3", "pursuit.updated", "p1", 5, {"due_date": "2026-05-01", "forecast_value_usd": 5}),
            ev("k2", "client.updated", "cl1", 6, {"industry": "retail"}),
        ]
    )
    assert [c["client_id"] for c in result.clients] == ["cl1", "cl9"]
    assert one(result.clients, client_id="cl1")["created_at"] == at(0)
    assert one(result.clients, client_id="cl1")["industry"] == "retail"
    assert one(result.clients, client_id="cl9")["name"] == "Acme"
    candidate = one(result.candidates, candidate_id="c1")
    assert (candidate["client_id"], candidate["value_band"], candidate["tags"]) == ("cl9", "high", ["x"])
    pursuit = one(result.pursuits, pursuit_id="p1")
    assert (pursuit["client_id"], pursuit["owner"], pursuit["compliance_score"]) == ("cl9", "di", 8.5)
    assert str(pursuit["due_date"]) == "2026-05-01" and pursuit["forecast_value_usd"] == 5
    assert pursuit["last_event_at"] == at(5)


def test_fold_all_keeps_tenants_apart_and_fold_refuses_mixed_orgs() -> None:
    acme = happy_path()
    beta = [{**e, "org_id": "beta"} for e in promoted_pursuit()]
    beta.append(ev("b1", "pursuit.stage_changed", "p1", 3, {"to": "pink"}, org="beta"))
    result = fold_all([*beta, *acme])
    assert [(p["org_id"], p["stage"]) for p in result.pursuits] == [("acme", "won"), ("beta", "pink")]
    assert ("beta", "b1") in result.outcomes and ("acme", "e09") in result.outcomes
    assert {r["org_id"] for r in result.config_registry} == {"acme", "beta"}
    with pytest.raises(ValueError, match="one org"):
        fold([*beta, *acme])
    with pytest.raises(ValueError, match="twice"):
        fold([*acme, acme[0]])
    naive = {**acme[0], "occurred_at": at(0).replace(tzinfo=None)}
    with pytest.raises(ValueError, match="timezone-aware"):
        fold([naive])
    assert fold([]) == FoldResult()


def test_as_of_leaves_later_events_out() -> None:
    result = fold(happy_path(), as_of=at(50))
    assert one(result.pursuits, pursuit_id="p1")["stage"] == "submit"
    assert ("acme", "e09") not in result.outcomes
