"""State vocabularies and rejection rule codes of the lifecycle engine (contract "Lifecycle rules").

Only names live here; which transitions are allowed is a rule value and belongs to `config.py`.
"""

from __future__ import annotations

from dagster_project.contract.events import CANDIDATE_TARGET_STATUSES, PURSUIT_STAGES

CANDIDATE_INITIAL = "new"
CANDIDATE_PROMOTED = "promoted"
CANDIDATE_ARCHIVED = "archived"
# Terminal: no way out (an archived or promoted candidate is off every work list).
CANDIDATE_CLOSED: tuple[str, ...] = (CANDIDATE_ARCHIVED, CANDIDATE_PROMOTED)
# new, triaged, nurture, on_hold, archived, promoted
CANDIDATE_STATES: tuple[str, ...] = (CANDIDATE_INITIAL, *CANDIDATE_TARGET_STATUSES, CANDIDATE_PROMOTED)

PURSUIT_INITIAL = "qual"
PURSUIT_STATES: tuple[str, ...] = PURSUIT_STAGES
PURSUIT_SUBMIT = "submit"
PURSUIT_WON = "won"
PURSUIT_LOST = "lost"
PURSUIT_CLOSED: tuple[str, ...] = (PURSUIT_WON, PURSUIT_LOST)

# Signals have no guarded machine in the contract; these states only summarise what happened:
#   open      created, not touched yet
#   touched   touched (signal.touched) at least once, not linked, not dismissed
#   linked    a candidate links it (a link also counts as a touch); a link re-opens a dismissed signal
#   dismissed dismissed (closed); a later touch does not re-open it
SIGNAL_OPEN = "open"
SIGNAL_TOUCHED = "touched"
SIGNAL_LINKED = "linked"
SIGNAL_DISMISSED = "dismissed"
SIGNAL_STATES: tuple[str, ...] = (SIGNAL_OPEN, SIGNAL_TOUCHED, SIGNAL_LINKED, SIGNAL_DISMISSED)

# The guarded machines, by entity type (the keys of `transitions.<entity>`).
MACHINE_STATES: dict[str, tuple[str, ...]] = {"candidate": CANDIDATE_STATES, "pursuit": PURSUIT_STATES}


class Rule:
    """`rejected_events.rule` codes, one per way an event can break a lifecycle rule."""

    ILLEGAL_TRANSITION = "illegal_transition"
    UNKNOWN_ENTITY = "unknown_entity"
    GATE_PINK_INCOMPLETE = "gate:pink_incomplete"
    GATE_RED_INCOMPLETE = "gate:red_incomplete"
    GATE_NO_SENT_PROPOSAL = "gate:no_sent_proposal"
    PURSUIT_ID_TAKEN = "pursuit_id_taken"
    INVALID_CONFIG = "invalid_config"

    @classmethod
    def all(cls) -> tuple[str, ...]:
        return tuple(v for k, v in vars(cls).items() if k.isupper())


class Outcome:
    """`rejected_events.outcome`, and the per-event outcome of a fold."""

    APPLIED = "applied"  # changed (or confirmed) state without breaking a rule
    WARNED = "warned"  # broke a rule but applied anyway (gate_mode = warn)
    REJECTED = "rejected"  # broke a rule, not applied
    IGNORED = "ignored"  # carries no lifecycle state (notes, memory events)
