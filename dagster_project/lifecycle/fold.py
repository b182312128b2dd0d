"""Fold one org's accepted events through the guarded lifecycle machines (pure; no I/O, no clock).

Events are sorted by event time (`occurred_at`, then `config.changed` first, then `event_id`) before
anything is judged, so the result depends on what happened and when, never on arrival order or file
split: re-folding after a late event re-judges everything after it. Each rule uses the config in
force at the event's own time (`ConfigRegistry.value`). Events that break a rule are not applied and
become `rejected_events` rows; with `gate_mode = warn` gate and transition-map breaks are applied anyway
(never out of a terminal state) and recorded with outcome `warned`.

Choices where the contract is silent:
- `<x>.created` for an id that already exists: `illegal_transition` ("already exists"), never warned.
- A candidate promoted a second time under another pursuit id: `illegal_transition`, never warned; a
  pursuit id owned by another candidate: `pursuit_id_taken`.
- The red gate applies to every entry into `won` and to `submit`→`lost`; `won` also needs a sent proposal.
  One rule per event, checked in the order map, pink, red, proposal.
- "Terminal" is a state the map in force gives no next state.
- A warned event that would not change the state (e.g. `pink`→`pink`) records `warned` but no transition.
- A candidate may link a signal that does not exist yet: the link is kept and applied when the signal is
  created (the signal starts `linked`). Links and touches on signals never get rejected.
- Field updates, checklist items and proposals are applied whatever the state (they are not transitions).
- Notes and memory events carry no lifecycle state: outcome `ignored`.
- Contact events are `applied` and never rejected: a contact exists once an event names it (like a
  client), and they change no lifecycle state. Merges and splits (of contacts and clients) are kept as
  decisions for identity resolution; an erasure empties the contact's personal fields.
- User events are `applied` and never rejected the same way: a user (whom `owner` and `actor` name)
  exists once an event names it; `user.erased` empties its name, email and title.
- `missing_reason` flags a `won`/`lost` entered without a `reason_code` (free-text `reason` alone
  does not count); leaving `won`/`lost` (only possible through a map override) clears the outcome.
- A pursuit's owner is its `capture_lead` (from the promotion, else the candidate's owner at that time);
  its `client_id` is the candidate's current one. Checklist completion uses the items in force at `as_of`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from dagster_project.config.registry import CONFIG_EVENT, ConfigRegistry
from dagster_project.contract.states import Outcome
from dagster_project.lifecycle.entities import Event, PursuitState, Row
from dagster_project.lifecycle.rules import (
    CandidateRules,
    ClientRules,
    ConfigRules,
    ContactRules,
    PursuitRules,
    SignalRules,
    UserRules,
)

SIGNAL_COLUMNS = (
    "org_id",
    "signal_id",
    "status",
    "owner",
    "source_type",
    "created_at",
    "first_touched_at",
    "dismissed_at",
    "linked_at",
    "linked_candidate_id",
    "linked_candidate_ids",
    "entered_state_at",
    "last_event_at",
)
CANDIDATE_COLUMNS = (
    "org_id",
    "candidate_id",
    "status",
    "owner",
    "title",
    "client_id",
    "value_band",
    "tags",
    "signal_ids",
    "pursuit_id",
    "entered_state_at",
    "created_at",
    "last_event_at",
)
PURSUIT_COLUMNS = (
    "org_id",
    "pursuit_id",
    "candidate_id",
    "stage",
    "owner",
    "capture_lead",
    "client_id",
    "due_date",
    "forecast_value_usd",
    "compliance_score",
    "pink_checklist",
    "pink_missing",
    "pink_completion_pct",
    "red_checklist",
    "red_missing",
    "red_completion_pct",
    "proposals_sent",
    "first_proposal_sent_at",
    "latest_proposal_id",
    "latest_proposal_version",
    "outcome",
    "reason_code",
    "reason",
    "missing_reason",
    "entered_state_at",
    "created_at",
    "closed_at",
    "last_event_at",
)
CLIENT_COLUMNS = (
    "org_id",
    "client_id",
    "name",
    "domain",
    "industry",
    "created_at",
    "last_event_at",
    "source_system",
    "source_id",
)
CONTACT_RECORD_COLUMNS = (
    "org_id",
    "record_type",
    "record_id",
    "source_system",
    "source_id",
    "name",
    "email",
    "phone",
    "title",
    "client_id",
    "company_name",
    "company_domain",
    "owner",
    "signal_ids",
    "erased_at",
    "first_seen_at",
    "last_seen_at",
)
USER_RECORD_COLUMNS = (
    "org_id",
    "user_id",
    "name",
    "email",
    "title",
    "role",
    "active",
    "source_system",
    "source_id",
    "erased_at",
    "first_seen_at",
    "last_seen_at",
)
IDENTITY_DECISION_COLUMNS = (
    "org_id",
    "entity_type",
    "entity_id",
    "other_id",
    "decision",
    "event_id",
    "occurred_at",
    "actor",
)
TRANSITION_COLUMNS = (
    "org_id",
    "entity_type",
    "entity_id",
    "from_state",
    "to_state",
    "occurred_at",
    "event_id",
    "warned",
)
REJECTED_COLUMNS = (
    "org_id",
    "event_id",
    "event_name",
    "entity_type",
    "entity_id",
    "occurred_at",
    "rule",
    "detail",
    "outcome",
)


@dataclass
class FoldResult:
    """Current state and history of one or more orgs, as plain rows.

    Entity rows are sorted by (org, id); `transitions` and `rejected_events` are in event-time order
    (`event_order`), so equal inputs in any order give equal results.

    `outcomes` maps (org_id, event_id) to applied | warned | rejected | ignored for every input event.
    """

    signals: list[Row] = field(default_factory=list)
    candidates: list[Row] = field(default_factory=list)
    pursuits: list[Row] = field(default_factory=list)
    clients: list[Row] = field(default_factory=list)
    contact_records: list[Row] = field(default_factory=list)
    user_records: list[Row] = field(default_factory=list)
    identity_decisions: list[Row] = field(default_factory=list)
    transitions: list[Row] = field(default_factory=list)
    rejected_events: list[Row] = field(default_factory=list)
    config_registry: list[Row] = field(default_factory=list)
    outcomes: dict[tuple[str, str], str] = field(default_factory=dict)

    def extend(self, other: FoldResult) -> None:
        for name in TABLES:
            getattr(self, name).extend(getattr(other, name))
        self.outcomes.update(other.outcomes)


TABLES = (
    "signals",
    "candidates",
    "pursuits",
    "clients",
    "contact_records",
    "user_records",
    "identity_decisions",
    "transitions",
    "rejected_events",
    "config_registry",
)


def event_order(event: Event) -> tuple[datetime, int, str]:
    """Event-time order: `occurred_at`, then `config.changed` first, then `event_id`."""
    return (event["occurred_at"], 0 if event["event_name"] == CONFIG_EVENT else 1, event["event_id"])


def fold(
    events: Iterable[Event],
    *,
    as_of: datetime | None = None,
    config_history: bool = True,
    registry: ConfigRegistry | None = None,
) -> FoldResult:
    """Fold one org's accepted events (any order) into current state, transitions and rejections.

    With `as_of`, events after it are left out and derived figures (checklist completion) use the config
    in force at `as_of`; otherwise at the latest event's time. Raises ValueError for events of several
    orgs, a repeated `event_id` or a naive `occurred_at` (the input must be accepted events).
    """
    ordered = _prepare(events, as_of)
    orgs = {e["org_id"] for e in ordered}
    if len(orgs) > 1:
        raise ValueError(f"fold() takes one org's events, got {len(orgs)} orgs; use fold_all()")
    if not ordered:
        return FoldResult()
    org_id = ordered[0]["org_id"]
    if registry is None:
        registry = ConfigRegistry.from_events(ordered)
    state = _OrgFold(org_id, registry)
    for event in ordered:
        state.apply(event)
    return state.result(as_of or ordered[-1]["occurred_at"], config_history=config_history)


def fold_all(events: Iterable[Event], *, as_of: datetime | None = None) -> FoldResult:
    """Fold every org separately (tenants never mix) and concatenate the results in org order."""
    by_org: dict[str, list[Event]] = defaultdict(list)
    for event in events:
        by_org[event["org_id"]].append(event)
    result = FoldResult()
    for org_id in sorted(by_org):
        result.extend(fold(by_org[org_id], as_of=as_of))
    return result


def _prepare(events: Iterable[Event], as_of: datetime | None) -> list[Event]:
    prepared: list[Event] = []
    seen: set[tuple[str, str]] = set()
    for event in events:
        at = event["occurred_at"]
        if at.tzinfo is None:
            raise ValueError(f"event {event['event_id']!r}: occurred_at must be timezone-aware")
        if at.tzinfo is not UTC:
            event = {**event, "occurred_at": at.astimezone(UTC)}
        if as_of is not None and event["occurred_at"] > as_of:
            continue
        key = (event["org_id"], event["event_id"])
        if key in seen:
            raise ValueError(f"event_id {event['event_id']!r} appears twice in org {event['org_id']!r}")
        seen.add(key)
        prepared.append(event)
    prepared.sort(key=event_order)
    return prepared


class _OrgFold(ConfigRules, SignalRules, ClientRules, ContactRules, UserRules, CandidateRules, PursuitRules):
    """One org's fold: its state and every entity type's rules, each event dispatched by name."""

    def __init__(self, org_id: str, registry: ConfigRegistry) -> None:
        super().__init__(org_id, registry)
        self.handlers: dict[str, Callable[[Event], str]] = {
            CONFIG_EVENT: self._config_changed,
            "signal.created": self._signal_created,
            "signal.touched": self._signal_touched,
            "signal.dismissed": self._signal_dismissed,
            "signal.updated": self._signal_updated,
            "client.updated": self._client_updated,
            "client.merged": self._client_decided,
            "client.split": self._client_decided,
            "contact.updated": self._contact_updated,
            "contact.linked": self._contact_linked,
            "contact.merged": self._contact_decided,
            "contact.split": self._contact_decided,
            "contact.erased": self._contact_erased,
            "user.updated": self._user_updated,
            "user.erased": self._user_erased,
            "candidate.created": self._candidate_created,
            "candidate.updated": self._candidate_updated,
            "candidate.status_changed": self._candidate_status_changed,
            "candidate.promoted": self._candidate_promoted,
            "pursuit.stage_changed": self._pursuit_stage_changed,
            "pursuit.checklist_item_set": self._pursuit_checklist_item_set,
            "pursuit.proposal_sent": self._pursuit_proposal_sent,
            "pursuit.updated": self._pursuit_updated,
        }

    def apply(self, event: Event) -> None:
        handler = self.handlers.get(event["event_name"])
        outcome = Outcome.IGNORED if handler is None else handler(event)
        self.outcomes[(self.org_id, event["event_id"])] = outcome

    # --- output --------------------------------------------------------------------------------------

    def result(self, as_of: datetime, *, config_history: bool = True) -> FoldResult:
        org = self.org_id
        signals = [
            {
                "org_id": org,
                "signal_id": s.id,
                "status": s.state,
                "owner": s.owner,
                "source_type": s.source_type,
                "created_at": s.created_at,
                "first_touched_at": s.first_touched_at,
                "dismissed_at": s.dismissed_at,
                "linked_at": s.linked_at,
                "linked_candidate_id": s.linked_candidate_ids[0] if s.linked_candidate_ids else None,
                "linked_candidate_ids": list(s.linked_candidate_ids),
                "entered_state_at": s.entered_state_at,
                "last_event_at": s.last_event_at,
            }
            for s in _by_id(self.signals)
        ]
        candidates = [
            {
                "org_id": org,
                "candidate_id": c.id,
                "status": c.state,
                "owner": c.owner,
                "title": c.title,
                "client_id": c.client_id,
                "value_band": c.value_band,
                "tags": list(c.tags),
                "signal_ids": list(c.signal_ids),
                "pursuit_id": c.pursuit_id,
                "entered_state_at": c.entered_state_at,
                "created_at": c.created_at,
                "last_event_at": c.last_event_at,
            }
            for c in _by_id(self.candidates)
        ]
        pursuits = [self._pursuit_row(p, as_of) for p in _by_id(self.pursuits)]
        clients = [
            {"org_id": org, "client_id": c.id} | {name: getattr(c, name) for name in CLIENT_COLUMNS[2:]}
            for c in _by_id(self.clients)
        ]
        contact_records = [
            {"org_id": org, "record_type": r.record_type, "record_id": r.id}
            | {name: getattr(r, name) for name in CONTACT_RECORD_COLUMNS[3:]}
            | {"signal_ids": list(r.signal_ids)}
            for r in _by_id(self.contact_records)
        ]
        user_records = [
            {"org_id": org, "user_id": u.id} | {name: getattr(u, name) for name in USER_RECORD_COLUMNS[2:]}
            for u in _by_id(self.users)
        ]
        rejected = sorted(self.rejected, key=event_order)  # config rejections merged in
        return FoldResult(
            signals=signals,
            candidates=candidates,
            pursuits=pursuits,
            clients=clients,
            contact_records=contact_records,
            user_records=user_records,
            identity_decisions=list(self.identity_decisions),  # in event-time order
            transitions=list(self.transitions),  # already in event-time order
            rejected_events=rejected,
            config_registry=self.config.history(org) if config_history else [],
            outcomes=dict(self.outcomes),  # in event-time order
        )

    def _pursuit_row(self, p: PursuitState, as_of: datetime) -> Row:
        row: Row = {
            "org_id": self.org_id,
            "pursuit_id": p.id,
            "candidate_id": p.candidate_id,
            "stage": p.state,
            "owner": p.capture_lead,
            "capture_lead": p.capture_lead,
            "client_id": self.candidates[p.candidate_id].client_id,
            "due_date": p.due_date,
            "forecast_value_usd": p.forecast_value_usd,
            "compliance_score": p.compliance_score,
        }
        for checklist in ("pink", "red"):
            required = self.config.value(self.org_id, f"checklist.{checklist}.items", as_of)
            state = p.checklists[checklist]
            items = {item: state.get(item, False) for item in required}
            items.update({item: state[item] for item in sorted(state) if item not in items})
            missing = [item for item in required if not state.get(item, False)]
            row[f"{checklist}_checklist"] = items
            row[f"{checklist}_missing"] = missing
            row[f"{checklist}_completion_pct"] = round(
                100 * (len(required) - len(missing)) / len(required), 1
            )
        row.update(
            {
                "proposals_sent": len(p.proposals),
                "first_proposal_sent_at": p.first_proposal_sent_at,
                "latest_proposal_id": p.latest_proposal_id,
                "latest_proposal_version": p.latest_proposal_version,
                "outcome": p.outcome,
                "reason_code": p.reason_code,
                "reason": p.reason,
                "missing_reason": p.outcome is not None and p.reason_code is None,
                "entered_state_at": p.entered_state_at,
                "created_at": p.created_at,
                "closed_at": p.closed_at,
                "last_event_at": p.last_event_at,
            }
        )
        return row


def _by_id(entities: dict[str, Any]) -> list[Any]:
    return [entities[key] for key in sorted(entities)]
