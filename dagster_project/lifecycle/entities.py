"""What the fold holds for one org while its events are applied: the entities' state, and the
bookkeeping every rule uses (record a break, move a state and log the transition, judge a transition
against the map and gates in force, link signals)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from dagster_project.config.registry import ConfigRegistry
from dagster_project.contract.states import (
    SIGNAL_LINKED,
    Outcome,
    Rule,
)

Event = Mapping[str, Any]
Row = dict[str, Any]
Failure = tuple[str, str] | None


@dataclass(slots=True)
class SignalState:
    id: str
    state: str
    created_at: datetime
    owner: str | None = None
    source_type: str | None = None
    first_touched_at: datetime | None = None
    dismissed_at: datetime | None = None
    linked_at: datetime | None = None
    linked_candidate_ids: list[str] = field(default_factory=list)
    entered_state_at: datetime | None = None
    last_event_at: datetime | None = None


@dataclass(slots=True)
class CandidateState:
    id: str
    state: str
    created_at: datetime
    title: str | None = None
    owner: str | None = None
    client_id: str | None = None
    value_band: str | None = None
    tags: list[str] = field(default_factory=list)
    signal_ids: list[str] = field(default_factory=list)
    pursuit_id: str | None = None
    entered_state_at: datetime | None = None
    last_event_at: datetime | None = None


@dataclass(slots=True)
class PursuitState:
    id: str
    candidate_id: str
    state: str
    created_at: datetime
    capture_lead: str | None = None
    due_date: date | str | None = None
    forecast_value_usd: float | None = None
    compliance_score: float | None = None
    checklists: dict[str, dict[str, bool]] = field(default_factory=lambda: {"pink": {}, "red": {}})
    proposals: list[str] = field(default_factory=list)  # distinct proposal ids, first-sent order
    first_proposal_sent_at: datetime | None = None
    latest_proposal_id: str | None = None
    latest_proposal_version: int | None = None
    outcome: str | None = None
    reason_code: str | None = None
    reason: str | None = None
    closed_at: datetime | None = None
    entered_state_at: datetime | None = None
    last_event_at: datetime | None = None


@dataclass(slots=True)
class ClientState:
    id: str
    created_at: datetime
    name: str | None = None
    domain: str | None = None
    industry: str | None = None
    source_system: str | None = None
    source_id: str | None = None
    last_event_at: datetime | None = None


# The fields of a person a contact record holds that an erasure removes (the company stays: it is the
# client's, not the person's).
PERSONAL_FIELDS: tuple[str, ...] = ("name", "email", "phone", "title")


@dataclass(slots=True)
class ContactRecord:
    """A source record that names a person: a contact entity (`record_type` contact, from the contact
    events) or the sender of a signal (`record_type` signal, from `signal.created`'s `contact_*` fields).
    Identity resolution reads these records and decides which of them are one person."""

    record_type: str
    id: str
    first_seen_at: datetime
    source_system: str | None = None
    source_id: str | None = None
    name: str | None = None
    email: str | None = None
    phone: str | None = None
    title: str | None = None
    client_id: str | None = None
    company_name: str | None = None
    company_domain: str | None = None
    owner: str | None = None
    signal_ids: list[str] = field(default_factory=list)
    erased_at: datetime | None = None
    last_seen_at: datetime | None = None


# The fields of a user that name the person; an erasure removes them (the id stays: owners hold it).
USER_PERSONAL_FIELDS: tuple[str, ...] = ("name", "email", "title")


@dataclass(slots=True)
class UserRecord:
    """A user of the org (a seller, a capture lead: whom `owner` and `actor` name), from `user.*` events."""

    id: str
    first_seen_at: datetime
    name: str | None = None
    email: str | None = None
    title: str | None = None
    role: str | None = None
    active: bool | None = None
    source_system: str | None = None
    source_id: str | None = None
    erased_at: datetime | None = None
    last_seen_at: datetime | None = None


def as_date(value: Any) -> date | str | None:
    """A `due_date` as a date; a value ingest let through but Python cannot parse is kept as given."""
    if value is None or isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        return value


class FoldState:
    """Mutable state of one org while its sorted events are applied one by one."""

    def __init__(self, org_id: str, registry: ConfigRegistry) -> None:
        self.org_id = org_id
        self.config = registry
        self.signals: dict[str, SignalState] = {}
        self.candidates: dict[str, CandidateState] = {}
        self.pursuits: dict[str, PursuitState] = {}
        self.clients: dict[str, ClientState] = {}
        # (record_type, id) -> the person a contact or a signal names
        self.contact_records: dict[tuple[str, str], ContactRecord] = {}
        # user id -> what the org's user events say about that user
        self.users: dict[str, UserRecord] = {}
        # explicit merge / split decisions about contacts and clients, in event-time order
        self.identity_decisions: list[Row] = []
        # signal id -> candidate ids that linked it before it existed
        self.pending_links: dict[str, list[str]] = {}
        self.transitions: list[Row] = []
        self.rejected: list[Row] = list(registry.rejections)
        self.bad_config = {r["event_id"] for r in registry.rejections}
        self.outcomes: dict[tuple[str, str], str] = {}

    # --- bookkeeping ---------------------------------------------------------------------------------

    def _record(self, event: Event, rule: str, detail: str, outcome: str = Outcome.REJECTED) -> str:
        self.rejected.append(
            {
                "org_id": self.org_id,
                "event_id": event["event_id"],
                "event_name": event["event_name"],
                "entity_type": event["entity_type"],
                "entity_id": event["entity_id"],
                "occurred_at": event["occurred_at"],
                "rule": rule,
                "detail": detail,
                "outcome": outcome,
            }
        )
        return outcome

    def _unknown(self, event: Event, kind: str) -> str:
        detail = f"{kind} {event['entity_id']!r} does not exist at {event['occurred_at'].isoformat()}"
        return self._record(event, Rule.UNKNOWN_ENTITY, detail)

    def _move(self, kind: str, entity: Any, to_state: str, event: Event, warned: bool = False) -> None:
        """Enter `to_state` (a no-op when already there) and log the transition."""
        if entity.state == to_state:
            return
        self._log_transition(kind, entity.id, entity.state, to_state, event, warned)
        entity.state = to_state
        entity.entered_state_at = event["occurred_at"]

    def _log_transition(
        self, kind: str, entity_id: str, from_state: str | None, to_state: str, event: Event, warned: bool
    ) -> None:
        self.transitions.append(
            {
                "org_id": self.org_id,
                "entity_type": kind,
                "entity_id": entity_id,
                "from_state": from_state,
                "to_state": to_state,
                "occurred_at": event["occurred_at"],
                "event_id": event["event_id"],
                "warned": warned,
            }
        )

    def _judge(self, event: Event, kind: str, current: str, target: str, gate: Callable[[], Failure]) -> str:
        """Check `current`→`target` against the map and gates in force; record a break. Returns the outcome."""
        at = event["occurred_at"]
        allowed = self.config.value(self.org_id, f"transitions.{kind}", at).get(current, ())
        if target in allowed:
            failure = gate()
        elif not allowed:
            failure = (Rule.ILLEGAL_TRANSITION, f"{kind} {current} → {target}: {current} is terminal")
        else:
            failure = (
                Rule.ILLEGAL_TRANSITION,
                f"{kind} {current} → {target} not allowed (from {current}: {', '.join(allowed)})",
            )
        if failure is None:
            return Outcome.APPLIED
        warn = bool(allowed) and self.config.value(self.org_id, "gate_mode", at) == "warn"
        return self._record(event, *failure, outcome=Outcome.WARNED if warn else Outcome.REJECTED)

    def _decide(self, event: Event, entity_type: str, other: Any) -> None:
        """Keep an explicit merge or split (`<type>.merged` / `<type>.split`) of `entity_type`."""
        self.identity_decisions.append(
            {
                "org_id": self.org_id,
                "entity_type": entity_type,
                "entity_id": event["entity_id"],
                "other_id": str(other),
                "decision": event["event_name"].rpartition(".")[2],
                "event_id": event["event_id"],
                "occurred_at": event["occurred_at"],
                "actor": event.get("actor"),
            }
        )

    def _reference_client(self, client_id: Any, event: Event) -> None:
        if client_id is not None and str(client_id) not in self.clients:
            self.clients[str(client_id)] = ClientState(str(client_id), event["occurred_at"])

    def _link_signal(self, signal: SignalState, candidate_id: str, event: Event) -> None:
        at = event["occurred_at"]
        if candidate_id in signal.linked_candidate_ids:
            return
        signal.linked_candidate_ids.append(candidate_id)
        if signal.linked_at is None:
            signal.linked_at = at
        if signal.first_touched_at is None:
            signal.first_touched_at = at
        self._move("signal", signal, SIGNAL_LINKED, event)
        signal.last_event_at = at

    def _link_signals(self, candidate: CandidateState, signal_ids: Any, event: Event) -> None:
        for raw in signal_ids or ():
            signal_id = str(raw)
            if signal_id in candidate.signal_ids:
                continue
            candidate.signal_ids.append(signal_id)
            signal = self.signals.get(signal_id)
            if signal is None:
                self.pending_links.setdefault(signal_id, []).append(candidate.id)
            else:
                self._link_signal(signal, candidate.id, event)
