"""Memory capture through the real lifecycle fold: ids, types, dedup, roll-up, governance, expiry."""

from __future__ import annotations

import random
from datetime import timedelta

import orjson
import pytest

from dagster_project.config.registry import ConfigRegistry
from dagster_project.lifecycle.fold import fold
from dagster_project.memory.atoms import content_hash, normalize
from dagster_project.memory.capture import capture_atoms
from tests.lifecycle.timeline import PINK, RED, at, checklist, config, ev, happy_path, promoted_pursuit

DAY = 24 * 60  # minutes


def run(events, as_of_minutes: float = 120, **kw):
    as_of = at(as_of_minutes)
    return capture_atoms(events, fold(events, as_of=as_of), ConfigRegistry.from_events(events), as_of, **kw)


def by_id(result):
    return {a["atom_id"]: a for a in result.atoms}


def dump(result) -> str:
    return orjson.dumps(
        [result.atoms, result.audit, result.duplicates, result.rejected, result.tombstones],
        default=str,
    ).decode()


def test_every_lifecycle_action_becomes_an_atom_with_a_rule_suffix() -> None:
    atoms = by_id(run(happy_path()))
    expected = {
        "s01:created": ("signal", "sig1", "status", "Signal received via email"),
        "e01:created": ("candidate", "c1", "status", "Candidate profile created for Data platform"),
        "e02:status_changed": ("candidate", "c1", "status", "Candidate status changed from new to triaged"),
        "e03:promoted": (
            "candidate",
            "c1",
            "status",
            "Candidate status changed from triaged to promoted (pursuit p1)",
        ),
        "e03:pursuit_created": ("pursuit", "p1", "status", "Pursuit created for candidate c1 in qual stage"),
        "e04:linked:sig1": ("signal", "sig1", "status", "Signal linked to candidate c1 (Data platform)"),
        "e05:stage_changed": ("pursuit", "p1", "status", "Pursuit stage changed from qual to pink"),
        "e06:stage_changed": ("pursuit", "p1", "status", "Pursuit stage changed from pink to red"),
        "e07:stage_changed": ("pursuit", "p1", "status", "Pursuit stage changed from red to submit"),
        "e08:proposal_sent": ("pursuit", "p1", "status", "Proposal prop1 v1 sent to client"),
        "e09:won": ("pursuit", "p1", "decision", "Pursuit won - best bid (reason code: price)"),
        "n01": ("pursuit", "p1", "note", "kick-off next week"),
    }
    got = {k: (a["entity_type"], a["entity_id"], a["atom_type"], a["content"]) for k, a in atoms.items()}
    assert got == expected
    won = atoms["e09:won"]
    assert won["event_id"] == "e09" and won["source"] == "system" and won["version"] == 1
    assert won["content_hash"] == content_hash("Pursuit won - best bid (reason code: price)")
    assert won["expires_at"] == won["occurred_at"] + timedelta(days=365)
    assert atoms["n01"]["source"] == "note" and atoms["n01"]["expires_at"] == at(61) + timedelta(days=90)
    assert atoms["e05:stage_changed"]["expires_at"] == at(10) + timedelta(days=30)
    assert all(a["client_id"] == "cl1" for a in atoms.values())  # signal via its linked candidate


def test_gate_breaks_are_risk_atoms_rejected_or_warned() -> None:
    events = [
        *promoted_pursuit(),
        ev("e05", "pursuit.stage_changed", "p1", 10, {"to": "pink"}),
        ev("e06", "pursuit.stage_changed", "p1", 20, {"to": "red"}),
        ev("e07", "pursuit.stage_changed", "p1", 30, {"to": "submit"}),  # pink incomplete
    ]
    atoms = by_id(run(events))
    gate = atoms["e07:gate_pink_incomplete"]
    assert gate["atom_type"] == "risk" and gate["entity_id"] == "p1"
    assert gate["content"] == "Move to submit blocked: pink checklist incomplete: " + ", ".join(PINK)
    assert "e07:stage_changed" not in atoms

    warned = by_id(run([config("cfg", -1, "gate_mode", "warn"), *events]))
    assert warned["e07:gate_pink_incomplete"]["content"].startswith("Moved to submit despite a failed gate")
    assert warned["e07:stage_changed"]["content"].endswith("(applied despite a failed rule: gate_mode warn)")


def test_lost_carries_reason_and_code_and_a_bare_loss_says_so() -> None:
    events = [
        *promoted_pursuit(),
        ev(
            "e05",
            "pursuit.stage_changed",
            "p1",
            10,
            {"to": "lost", "reason": "went with Contoso", "reason_code": "competitor"},
        ),
        *promoted_pursuit("b", candidate="c2", pursuit="p2"),
        ev("e06", "pursuit.stage_changed", "p2", 10, {"to": "lost"}),
    ]
    atoms = by_id(run(events))
    assert atoms["e05:lost"]["content"] == "Pursuit lost - went with Contoso (reason code: competitor)"
    assert atoms["e05:lost"]["atom_type"] == "decision"
    assert atoms["e06:lost"]["content"] == "Pursuit lost - no reason provided"


def test_signals_and_clients() -> None:
    events = [
        ev(
            "s1",
            "signal.created",
            "sig1",
            0,
            {"source_type": "call", "company_name": "Acme", "snippet": "wants 200 seats"},
        ),
        ev("s2", "signal.touched", "sig1", 5, {"channel": "phone"}),
        ev("s3", "signal.created", "sig2", 6, {"source_type": "ad"}),
        ev("s4", "signal.dismissed", "sig2", 7, {"reason": "spam"}),
        ev("k1", "client.updated", "cl9", 8, {"name": "Acme Corp", "industry": "Retail"}),
        ev("k2", "client.updated", "cl9", 9, {"domain": "acme.test"}),
    ]
    atoms = by_id(run(events))
    assert atoms["s1:created"]["content"] == "Signal received via call from Acme: wants 200 seats"
    assert atoms["s2:touched"]["content"] == "Signal first touched via phone"
    assert atoms["s4:dismissed"]["content"] == "Signal dismissed - spam"
    assert atoms["k1:created"]["content"] == "Client profile created: Acme Corp (industry Retail)"
    assert atoms["k2:updated"]["content"] == "Client details updated: domain acme.test"
    assert atoms["k1:created"]["client_id"] == "cl9"
    assert atoms["s1:created"]["client_id"] is None  # not linked to any candidate


def test_notes_are_classified_and_explain_the_rule() -> None:
    events = [
        *promoted_pursuit(),
        ev("n1", "candidate.note_added", "c1", 5, {"text": "Maria prefers email over calls."}),
        ev("n2", "pursuit.note_added", "p1", 6, {"text": "Budget freeze announced for Q4."}),
        ev("n3", "pursuit.note_added", "p1", 7, {"text": "They decided to go with the premium tier."}),
        ev("n4", "client.note_added", "cl1", 8, {"text": "Met the team for lunch."}),
    ]
    atoms = by_id(run(events))
    assert [atoms[k]["atom_type"] for k in ("n1", "n2", "n3", "n4")] == [
        "preference",
        "risk",
        "decision",
        "note",
    ]
    assert atoms["n1"]["classified_by"].startswith("preference:")
    assert atoms["n4"]["classified_by"] is None and atoms["n4"]["client_id"] == "cl1"
    # the rule set is config: an org can teach it a word
    custom = [config("cfg", -1, "memory.note_rules", {"risk": [r"\blunch\b"]}), *events]
    atoms = by_id(run(custom))
    assert atoms["n4"]["atom_type"] == "risk" and atoms["n1"]["atom_type"] == "note"


def test_dedup_by_normalized_content_per_entity_keeps_the_earliest() -> None:
    events = [
        *promoted_pursuit(),
        ev("n2", "candidate.note_added", "c1", 9, {"text": "  Kick-off   NEXT week "}),
        ev("n1", "candidate.note_added", "c1", 8, {"text": "kick-off next week"}),
        ev("n3", "pursuit.note_added", "p1", 10, {"text": "kick-off next week"}),  # other entity: kept
        ev("e04", "candidate.status_changed", "c9", 3, {"to": "triaged"}),  # unknown entity: no atom
    ]
    result = run(events)
    atoms = by_id(result)
    assert "n1" in atoms and "n2" not in atoms and "n3" in atoms
    assert {"atom_id": "n2", "duplicate_of": "n1", "reason": "same_content"} in result.duplicates
    assert normalize("  Kick-off   NEXT week ") == "kick-off next week"


def test_repeated_identical_transition_is_one_atom() -> None:
    events = [
        ev("e1", "candidate.created", "c1", 0, {"title": "X"}),
        ev("e2", "candidate.status_changed", "c1", 1, {"to": "triaged"}),
        ev("e3", "candidate.status_changed", "c1", 2, {"to": "nurture"}),
        ev("e4", "candidate.status_changed", "c1", 3, {"to": "triaged"}),
        ev("e5", "candidate.status_changed", "c1", 4, {"to": "nurture"}),
    ]
    ids = [a["atom_id"] for a in run(events).atoms]
    assert ids == ["e1:created", "e2:status_changed", "e3:status_changed", "e4:status_changed"]


def test_client_roll_up_uses_state_at_as_of() -> None:
    events = [
        *promoted_pursuit(),
        ev("s1", "signal.created", "sig1", 0, {"source_type": "web"}),
        ev("u1", "candidate.updated", "c1", 10, {"client_id": "cl2", "signal_ids": ["sig1"]}),
        ev("n1", "pursuit.note_added", "p1", 11, {"text": "hello"}),
    ]
    before, after = by_id(run(events, 5)), by_id(run(events, 20))
    assert before["e01:created"]["client_id"] == "cl1" and before["s1:created"]["client_id"] is None
    assert after["e01:created"]["client_id"] == "cl2"
    assert after["e03:pursuit_created"]["client_id"] == "cl2"  # the pursuit follows its candidate
    assert after["s1:created"]["client_id"] == "cl2"  # via the linked candidate


def test_explicit_atoms_trust_tags_and_expiry() -> None:
    events = [
        *promoted_pursuit(),
        ev(
            "m1",
            "memory.recorded",
            "p1",
            5,
            {
                "atom_type": "risk",
                "content": "Security review pending",
                "atom_id": "ext-7",
                "source": {"system": "crm", "url": "https://crm.test/7", "trust_weight": 0.5},
                "tags": ["security"],
                "expires_at": "2026-03-05T00:00:00+00:00",
            },
            entity_type="pursuit",
        ),
        ev(
            "m2",
            "memory.recorded",
            "c1",
            6,
            {"atom_type": "preference", "content": "Likes PDFs"},
            entity_type="candidate",
        ),
        config("cfg", 7, "memory.retention_days.preference", 10),
    ]
    atoms = by_id(run(events))
    ext = atoms["ext-7"]
    assert (ext["source"], ext["source_system"], ext["source_url"], ext["trust_weight"]) == (
        "explicit",
        "crm",
        "https://crm.test/7",
        0.5,
    )
    assert ext["tags"] == ["security"] and ext["event_id"] == "m1"
    assert ext["expires_at"].isoformat() == "2026-03-05T00:00:00+00:00"  # explicit wins
    # retention in force at as_of (the override at minute 7) applies to an atom recorded before it
    assert atoms["m2"]["expires_at"] == at(6) + timedelta(days=10)
    assert by_id(run(events, 6.5))["m2"]["expires_at"] == at(6) + timedelta(days=365)


def test_correction_bumps_version_and_leaves_an_audit_row() -> None:
    events = [
        *promoted_pursuit(),
        ev("n1", "pursuit.note_added", "p1", 5, {"text": "Budget is $70k"}),
        ev(
            "x1",
            "memory.corrected",
            "p1",
            10,
            {"atom_id": "n1", "content": "Budget is $75k", "reason": "typo"},
        ),
        ev(
            "x2",
            "memory.corrected",
            "p1",
            200,
            {"atom_id": "n1", "content": "Budget is $80k", "reason": "later"},
        ),
        ev("x3", "memory.corrected", "p1", 11, {"atom_id": "nope", "content": "?", "reason": "?"}),
    ]
    result = run(events)
    atom = by_id(result)["n1"]
    # A correction applies at every as-of (its old text is scrubbed from the log): x2 counts before it.
    assert (atom["content"], atom["version"], atom["last_audit_id"]) == ("Budget is $80k", 3, "x2")
    assert atom["atom_id"] == "n1" and atom["corrected_at"] == at(200)
    common = {
        "org_id": "acme",
        "action": "correct",
        "atom_id": "n1",
        "entity_type": "pursuit",
        "entity_id": "p1",
        "actor": "ann@acme.test",
        "content_hash": None,
    }
    assert result.audit == [
        {
            **common,
            "audit_id": "x1",
            "occurred_at": at(10),
            "reason": "typo",
            "old_content_hash": content_hash("Budget is $70k"),
            "new_content_hash": content_hash("Budget is $75k"),
            "version": 2,
        },
        {
            **common,
            "audit_id": "x2",
            "occurred_at": at(200),
            "reason": "later",
            "old_content_hash": content_hash("Budget is $75k"),
            "new_content_hash": content_hash("Budget is $80k"),
            "version": 3,
        },
    ]
    assert [r["atom_id"] for r in result.rejected] == ["nope"]
    assert by_id(run(events, 300))["n1"] == atom


def test_redaction_removes_the_atom_everywhere_and_for_good() -> None:
    secret = "CFO Jane Roe is being fired next month"
    events = [
        *promoted_pursuit(),
        ev("n1", "pursuit.note_added", "p1", 5, {"text": secret}),
        ev(
            "x1",
            "memory.corrected",
            "p1",
            6,
            {"atom_id": "n1", "content": secret + " (confirmed)", "reason": "r"},
        ),
        ev("r1", "memory.redacted", "p1", 7, {"atom_id": "n1", "reason": "gdpr request"}),
        # arriving later: the same text again, and a re-sent explicit atom with the redacted id
        ev("n9", "pursuit.note_added", "p1", 50, {"text": secret.upper()}),
        ev(
            "m9",
            "memory.recorded",
            "p1",
            60,
            {"atom_type": "note", "content": secret, "atom_id": "n1"},
            entity_type="pursuit",
        ),
        ev("n8", "pursuit.note_added", "p1", 61, {"text": secret + " (confirmed)"}),
    ]
    for as_of in (5.5, 6.5, 120):  # redactions apply at every as-of, even before they happened
        result = run(events, as_of)
        assert not {"n1", "n9", "m9", "n8"} & set(by_id(result))
        assert "fired" not in dump(result).lower()
    result = run(events)
    redact = [r for r in result.audit if r["action"] == "redact"]
    assert redact == [
        {
            "org_id": "acme",
            "audit_id": "r1",
            "action": "redact",
            "atom_id": "n1",
            "entity_type": "pursuit",
            "entity_id": "p1",
            "actor": "ann@acme.test",
            "occurred_at": at(7),
            "reason": "gdpr request",
            "content_hash": content_hash(secret + " (confirmed)"),
            "old_content_hash": None,
            "new_content_hash": None,
            "version": None,
        }
    ]
    assert result.tombstones[0]["content_hashes"] == sorted(
        {content_hash(secret), content_hash(secret + " (confirmed)")}
    )
    # the same text on another entity is another fact: kept
    other = [*events, ev("n7", "candidate.note_added", "c1", 62, {"text": secret})]
    assert "n7" in by_id(run(other))


def test_redacting_an_automatic_atom_and_kept_tombstones() -> None:
    events = [*happy_path(), ev("r1", "memory.redacted", "p1", 100, {"atom_id": "e09:won", "reason": "x"})]
    atoms = by_id(run(events))
    assert "e09:won" not in atoms and "best bid" not in dump(run(events))
    # a tombstone kept from an earlier run (the log already scrubbed) still applies
    stone = {"atom_id": "n01", "content_hashes": [content_hash("kick-off next week")]}
    assert "n01" not in by_id(run(happy_path(), tombstones=[stone]))
    org_wide = {"atom_id": "zzz", "content_hashes": [content_hash("Kick-off next week")]}
    assert "n01" not in by_id(run(happy_path(), tombstones=[org_wide]))


def test_expired_atoms_are_reported_but_not_live() -> None:
    events = [
        *promoted_pursuit(),
        ev("n1", "pursuit.note_added", "p1", 5, {"text": "call back"}),
        ev("n2", "pursuit.note_added", "p1", 6, {"text": "They decided to renew."}),
    ]
    result = run(events, 5 + 90 * DAY)  # the note expires exactly now: expires_at <= as_of
    live = {a["atom_id"] for a in result.live_atoms}
    expired = {a["atom_id"] for a in result.expired_atoms}
    assert "n1" in expired and "n2" in live and "e05:stage_changed" not in live
    assert "e01:created" in expired  # status atoms keep 30 days
    assert not live & expired and live | expired == {a["atom_id"] for a in result.atoms}


def test_same_result_in_any_order_and_one_org_only() -> None:
    events = [
        *happy_path(),
        ev("n2", "pursuit.note_added", "p1", 62, {"text": "Kick-off next week"}),
        ev("r1", "memory.redacted", "p1", 70, {"atom_id": "e08:proposal_sent", "reason": "x"}),
    ]
    shuffled = events[:]
    random.Random(7).shuffle(shuffled)
    a, b = run(events), run(shuffled)
    assert (a.atoms, a.audit, a.duplicates) == (b.atoms, b.audit, b.duplicates)
    with pytest.raises(ValueError, match="one org"):
        run([*events, ev("o1", "signal.created", "s", 0, {"source_type": "web"}, org="other")])


def test_checklists_then_win_is_a_decision_and_gate_red_risk() -> None:
    events = [
        *promoted_pursuit(),
        ev("e05", "pursuit.stage_changed", "p1", 10, {"to": "pink"}),
        *checklist("pk", "p1", 11, "pink", PINK),
        ev("e06", "pursuit.stage_changed", "p1", 12, {"to": "red"}),
        ev("e07", "pursuit.stage_changed", "p1", 13, {"to": "submit"}),
        ev("e08", "pursuit.stage_changed", "p1", 14, {"to": "won", "reason_code": "price"}),
        *checklist("rd", "p1", 15, "red", RED),
        ev("e09", "pursuit.stage_changed", "p1", 16, {"to": "won", "reason_code": "price"}),
    ]
    atoms = by_id(run(events))
    assert atoms["e08:gate_red_incomplete"]["atom_type"] == "risk"
    assert (
        atoms["e09:gate_no_sent_proposal"]["content"]
        == "Move to won blocked: pursuit 'p1' has no sent proposal"
    )
    assert "e09:won" not in atoms


def test_an_explicit_expiry_written_with_a_lowercase_t_and_z_is_honoured() -> None:
    """RFC 3339 allows `t` and `z`; the ingest accepts them, so the capture must read them too."""
    events = [
        *promoted_pursuit(),
        ev(
            "m1",
            "memory.recorded",
            "p1",
            5,
            {"atom_type": "risk", "content": "Security review pending", "expires_at": "2026-03-05t00:00:00z"},
            entity_type="pursuit",
        ),
    ]
    assert by_id(run(events))["m1"]["expires_at"].isoformat() == "2026-03-05T00:00:00+00:00"
