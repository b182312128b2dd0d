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
- `missing_reason` flags a `won`/`lost` entered without a `reason_code` (free-text `reason` alone
  does not count); leaving `won`/`lost` (only possible through a map override) clears the outcome.
- A pursuit's owner is its `capture_lead` (from the promotion, else the candidate's owner at that time);
  its `client_id` is the candidate's current one. Checklist completion uses the items in force at `as_of`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from dagster_project.config.registry import CONFIG_EVENT, ConfigRegistry
from dagster_project.contract.states import (
    CANDIDATE_INITIAL,
    CANDIDATE_PROMOTED,
    PURSUIT_CLOSED,
    PURSUIT_INITIAL,
    PURSUIT_SUBMIT,
    PURSUIT_WON,
    SIGNAL_DISMISSED,
    SIGNAL_LINKED,
    SIGNAL_OPEN,
    SIGNAL_TOUCHED,
    Outcome,
    Rule,
)

Event = Mapping[str, Any]
Row = dict[str, Any]

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
CLIENT_COLUMNS = ("org_id", "client_id", "name", "domain", "industry", "created_at", "last_event_at")
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
    transitions: list[Row] = field(default_factory=list)
    rejected_events: list[Row] = field(default_factory=list)
    config_registry: list[Row] = field(default_factory=list)
    outcomes: dict[tuple[str, str], str] = field(default_factory=dict)

    def extend(self, other: FoldResult) -> None:
        for name in TABLES:
            getattr(self, name).extend(getattr(other, name))
        self.outcomes.update(other.outcomes)


TABLES = ("signals", "candidates", "pursuits", "clients", "transitions", "rejected_events", "config_registry")


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


# --- entity state ------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Signal:
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
class _Candidate:
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
class _Pursuit:
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
class _Client:
    id: str
    created_at: datetime
    name: str | None = None
    domain: str | None = None
    industry: str | None = None
    last_event_at: datetime | None = None


Failure = tuple[str, str] | None


class _OrgFold:
    """Mutable state of one org while its sorted events are applied one by one."""

    def __init__(self, org_id: str, registry: ConfigRegistry) -> None:
        self.org_id = org_id
        self.config = registry
        self.signals: dict[str, _Signal] = {}
        self.candidates: dict[str, _Candidate] = {}
        self.pursuits: dict[str, _Pursuit] = {}
        self.clients: dict[str, _Client] = {}
        # signal id -> candidate ids that linked it before it existed
        self.pending_links: dict[str, list[str]] = {}
        self.transitions: list[Row] = []
        self.rejected: list[Row] = list(registry.rejections)
        self.bad_config = {r["event_id"] for r in registry.rejections}
        self.outcomes: dict[tuple[str, str], str] = {}
        self.handlers: dict[str, Callable[[Event], str]] = {
            CONFIG_EVENT: self._config_changed,
            "signal.created": self._signal_created,
            "signal.touched": self._signal_touched,
            "signal.dismissed": self._signal_dismissed,
            "signal.updated": self._signal_updated,
            "client.updated": self._client_updated,
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

    def _reference_client(self, client_id: Any, event: Event) -> None:
        if client_id is not None and str(client_id) not in self.clients:
            self.clients[str(client_id)] = _Client(str(client_id), event["occurred_at"])

    def _link_signal(self, signal: _Signal, candidate_id: str, event: Event) -> None:
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

    def _link_signals(self, candidate: _Candidate, signal_ids: Any, event: Event) -> None:
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

    # --- config --------------------------------------------------------------------------------------

    def _config_changed(self, event: Event) -> str:
        # Judged (and recorded) by the registry, which every rule reads at its event's time.
        return Outcome.REJECTED if event["event_id"] in self.bad_config else Outcome.APPLIED

    # --- signals -------------------------------------------------------------------------------------

    def _signal_created(self, event: Event) -> str:
        signal_id, at, payload = event["entity_id"], event["occurred_at"], event.get("payload") or {}
        if signal_id in self.signals:
            return self._record(event, Rule.ILLEGAL_TRANSITION, f"signal {signal_id!r} already exists")
        signal = _Signal(
            signal_id,
            SIGNAL_OPEN,
            at,
            owner=payload.get("owner"),
            source_type=payload.get("source_type"),
            entered_state_at=at,
            last_event_at=at,
        )
        self.signals[signal_id] = signal
        pending = self.pending_links.pop(signal_id, [])
        if pending:
            # Linked before it existed: it starts linked (the link is also its first touch).
            signal.state, signal.linked_at, signal.first_touched_at = SIGNAL_LINKED, at, at
            signal.linked_candidate_ids = pending
        self._log_transition("signal", signal_id, None, signal.state, event, False)
        return Outcome.APPLIED

    def _signal_touched(self, event: Event) -> str:
        signal = self.signals.get(event["entity_id"])
        if signal is None:
            return self._unknown(event, "signal")
        at = event["occurred_at"]
        if signal.first_touched_at is None:
            signal.first_touched_at = at
        if signal.state == SIGNAL_OPEN:
            self._move("signal", signal, SIGNAL_TOUCHED, event)
        signal.last_event_at = at
        return Outcome.APPLIED

    def _signal_dismissed(self, event: Event) -> str:
        signal = self.signals.get(event["entity_id"])
        if signal is None:
            return self._unknown(event, "signal")
        at = event["occurred_at"]
        if signal.dismissed_at is None:
            signal.dismissed_at = at
        self._move("signal", signal, SIGNAL_DISMISSED, event)
        signal.last_event_at = at
        return Outcome.APPLIED

    def _signal_updated(self, event: Event) -> str:
        signal = self.signals.get(event["entity_id"])
        if signal is None:
            return self._unknown(event, "signal")
        payload = event.get("payload") or {}
        if "owner" in payload:
            signal.owner = payload["owner"]
        signal.last_event_at = event["occurred_at"]
        return Outcome.APPLIED

    # --- clients -------------------------------------------------------------------------------------

    def _client_updated(self, event: Event) -> str:
        client_id, payload = event["entity_id"], event.get("payload") or {}
        self._reference_client(client_id, event)
        client = self.clients[client_id]
        for name in ("name", "domain", "industry"):
            if name in payload:
                setattr(client, name, payload[name])
        client.last_event_at = event["occurred_at"]
        return Outcome.APPLIED

    # --- candidates ----------------------------------------------------------------------------------

    def _candidate_fields(self, candidate: _Candidate, payload: Mapping[str, Any], event: Event) -> None:
        for name in ("title", "owner", "value_band"):
            if name in payload:
                setattr(candidate, name, payload[name])
        if "client_id" in payload:
            candidate.client_id = None if payload["client_id"] is None else str(payload["client_id"])
            self._reference_client(candidate.client_id, event)
        if "tags" in payload:
            candidate.tags = [str(t) for t in payload["tags"] or ()]
        if "signal_ids" in payload:
            self._link_signals(candidate, payload["signal_ids"], event)
        candidate.last_event_at = event["occurred_at"]

    def _candidate_created(self, event: Event) -> str:
        candidate_id, at = event["entity_id"], event["occurred_at"]
        if candidate_id in self.candidates:
            return self._record(event, Rule.ILLEGAL_TRANSITION, f"candidate {candidate_id!r} already exists")
        candidate = _Candidate(candidate_id, CANDIDATE_INITIAL, at, entered_state_at=at)
        self.candidates[candidate_id] = candidate
        self._log_transition("candidate", candidate_id, None, CANDIDATE_INITIAL, event, False)
        self._candidate_fields(candidate, event.get("payload") or {}, event)
        return Outcome.APPLIED

    def _candidate_updated(self, event: Event) -> str:
        candidate = self.candidates.get(event["entity_id"])
        if candidate is None:
            return self._unknown(event, "candidate")
        self._candidate_fields(candidate, event.get("payload") or {}, event)
        return Outcome.APPLIED

    def _candidate_status_changed(self, event: Event) -> str:
        candidate = self.candidates.get(event["entity_id"])
        if candidate is None:
            return self._unknown(event, "candidate")
        target = (event.get("payload") or {}).get("to")
        outcome = self._judge(event, "candidate", candidate.state, target, lambda: None)
        if outcome != Outcome.REJECTED:
            self._move("candidate", candidate, target, event, warned=outcome == Outcome.WARNED)
            candidate.last_event_at = event["occurred_at"]
        return outcome

    def _candidate_promoted(self, event: Event) -> str:
        candidate = self.candidates.get(event["entity_id"])
        if candidate is None:
            return self._unknown(event, "candidate")
        payload, at = event.get("payload") or {}, event["occurred_at"]
        pursuit_id = str(payload.get("pursuit_id"))
        existing = self.pursuits.get(pursuit_id)
        if existing is not None and existing.candidate_id != candidate.id:
            detail = f"pursuit {pursuit_id!r} belongs to candidate {existing.candidate_id!r}"
            return self._record(event, Rule.PURSUIT_ID_TAKEN, detail)
        if candidate.pursuit_id is not None and candidate.pursuit_id != pursuit_id:
            detail = f"candidate {candidate.id!r} was already promoted to pursuit {candidate.pursuit_id!r}"
            return self._record(event, Rule.ILLEGAL_TRANSITION, detail)
        outcome = self._judge(event, "candidate", candidate.state, CANDIDATE_PROMOTED, lambda: None)
        if outcome == Outcome.REJECTED:
            return outcome
        self._move("candidate", candidate, CANDIDATE_PROMOTED, event, warned=outcome == Outcome.WARNED)
        candidate.last_event_at = at
        if existing is None:
            pursuit = _Pursuit(
                pursuit_id,
                candidate.id,
                PURSUIT_INITIAL,
                at,
                capture_lead=payload.get("capture_lead", candidate.owner),
                due_date=_as_date(payload.get("due_date")),
                forecast_value_usd=payload.get("forecast_value_usd"),
                entered_state_at=at,
                last_event_at=at,
            )
            self.pursuits[pursuit_id] = pursuit
            candidate.pursuit_id = pursuit_id
            self._log_transition("pursuit", pursuit_id, None, PURSUIT_INITIAL, event, False)
        return outcome

    # --- pursuits ------------------------------------------------------------------------------------

    def _missing(self, pursuit: _Pursuit, checklist: str, at: datetime) -> list[str]:
        items = self.config.value(self.org_id, f"checklist.{checklist}.items", at)
        done = pursuit.checklists[checklist]
        return [item for item in items if not done.get(item, False)]

    def _gate(self, pursuit: _Pursuit, target: str, at: datetime) -> Failure:
        if target == PURSUIT_SUBMIT and (missing := self._missing(pursuit, "pink", at)):
            return Rule.GATE_PINK_INCOMPLETE, "pink checklist incomplete: " + ", ".join(missing)
        needs_red = target == PURSUIT_WON or (target in PURSUIT_CLOSED and pursuit.state == PURSUIT_SUBMIT)
        if needs_red and (missing := self._missing(pursuit, "red", at)):
            detail = "red checklist incomplete: " + ", ".join(missing)
            if target == PURSUIT_WON and not pursuit.proposals:
                detail += "; no sent proposal"
            return Rule.GATE_RED_INCOMPLETE, detail
        if target == PURSUIT_WON and not pursuit.proposals:
            return Rule.GATE_NO_SENT_PROPOSAL, f"pursuit {pursuit.id!r} has no sent proposal"
        return None

    def _pursuit_stage_changed(self, event: Event) -> str:
        pursuit = self.pursuits.get(event["entity_id"])
        if pursuit is None:
            return self._unknown(event, "pursuit")
        payload, at = event.get("payload") or {}, event["occurred_at"]
        target = payload.get("to")
        outcome = self._judge(
            event, "pursuit", pursuit.state, target, lambda: self._gate(pursuit, target, at)
        )
        if outcome == Outcome.REJECTED:
            return outcome
        was = pursuit.state
        self._move("pursuit", pursuit, target, event, warned=outcome == Outcome.WARNED)
        if target in PURSUIT_CLOSED and was != target:
            pursuit.outcome, pursuit.closed_at = target, at
            pursuit.reason_code, pursuit.reason = payload.get("reason_code"), payload.get("reason")
        elif target not in PURSUIT_CLOSED:  # only reachable out of won/lost through a map override
            pursuit.outcome = pursuit.closed_at = pursuit.reason_code = pursuit.reason = None
        pursuit.last_event_at = at
        return outcome

    def _pursuit_checklist_item_set(self, event: Event) -> str:
        pursuit = self.pursuits.get(event["entity_id"])
        if pursuit is None:
            return self._unknown(event, "pursuit")
        payload = event.get("payload") or {}
        pursuit.checklists[payload["checklist"]][str(payload["item"])] = bool(payload["done"])
        pursuit.last_event_at = event["occurred_at"]
        return Outcome.APPLIED

    def _pursuit_proposal_sent(self, event: Event) -> str:
        pursuit = self.pursuits.get(event["entity_id"])
        if pursuit is None:
            return self._unknown(event, "pursuit")
        payload, at = event.get("payload") or {}, event["occurred_at"]
        proposal_id = str(payload["proposal_id"])
        if proposal_id not in pursuit.proposals:
            pursuit.proposals.append(proposal_id)
        if pursuit.first_proposal_sent_at is None:
            pursuit.first_proposal_sent_at = at
        pursuit.latest_proposal_id = proposal_id
        pursuit.latest_proposal_version = payload.get("version")
        pursuit.last_event_at = at
        return Outcome.APPLIED

    def _pursuit_updated(self, event: Event) -> str:
        pursuit = self.pursuits.get(event["entity_id"])
        if pursuit is None:
            return self._unknown(event, "pursuit")
        payload = event.get("payload") or {}
        if "due_date" in payload:
            pursuit.due_date = _as_date(payload["due_date"])
        for name in ("forecast_value_usd", "compliance_score", "capture_lead"):
            if name in payload:
                setattr(pursuit, name, payload[name])
        pursuit.last_event_at = event["occurred_at"]
        return Outcome.APPLIED

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
            {
                "org_id": org,
                "client_id": c.id,
                "name": c.name,
                "domain": c.domain,
                "industry": c.industry,
                "created_at": c.created_at,
                "last_event_at": c.last_event_at,
            }
            for c in _by_id(self.clients)
        ]
        rejected = sorted(self.rejected, key=event_order)  # config rejections merged in
        return FoldResult(
            signals=signals,
            candidates=candidates,
            pursuits=pursuits,
            clients=clients,
            transitions=list(self.transitions),  # already in event-time order
            rejected_events=rejected,
            config_registry=self.config.history(org) if config_history else [],
            outcomes=dict(self.outcomes),  # in event-time order
        )

    def _pursuit_row(self, p: _Pursuit, as_of: datetime) -> Row:
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


def _as_date(value: Any) -> date | str | None:
    """A `due_date` as a date; a value ingest let through but Python cannot parse is kept as given."""
    if value is None or isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        return value
