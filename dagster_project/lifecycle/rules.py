"""The lifecycle rules, one class per entity type: each handles its events, judged against the config
in force at the event's time (`fold` explains the choices where the contract is silent). The fold
driver (`fold._OrgFold`) combines them and dispatches each event to its handler."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

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
from dagster_project.lifecycle.entities import (
    PERSONAL_FIELDS,
    USER_PERSONAL_FIELDS,
    CandidateState,
    ContactRecord,
    Event,
    Failure,
    FoldState,
    PursuitState,
    SignalState,
    UserRecord,
    as_date,
)


class ConfigRules(FoldState):
    """`config.changed`: judged (and recorded) by the registry; the event takes its verdict."""

    def _config_changed(self, event: Event) -> str:
        # Judged (and recorded) by the registry, which every rule reads at its event's time.
        return Outcome.REJECTED if event["event_id"] in self.bad_config else Outcome.APPLIED


class SignalRules(FoldState):
    """Signals: created, touched, dismissed, updated."""

    def _signal_created(self, event: Event) -> str:
        signal_id, at, payload = event["entity_id"], event["occurred_at"], event.get("payload") or {}
        if signal_id in self.signals:
            return self._record(event, Rule.ILLEGAL_TRANSITION, f"signal {signal_id!r} already exists")
        signal = SignalState(
            signal_id,
            SIGNAL_OPEN,
            at,
            owner=payload.get("owner"),
            source_type=payload.get("source_type"),
            entered_state_at=at,
            last_event_at=at,
        )
        self.signals[signal_id] = signal
        self._signal_person(signal_id, payload, at)
        pending = self.pending_links.pop(signal_id, [])
        if pending:
            # Linked before it existed: it starts linked (the link is also its first touch).
            signal.state, signal.linked_at, signal.first_touched_at = SIGNAL_LINKED, at, at
            signal.linked_candidate_ids = pending
        self._log_transition("signal", signal_id, None, signal.state, event, False)
        return Outcome.APPLIED

    def _signal_person(self, signal_id: str, payload: Mapping[str, Any], at: datetime) -> None:
        """The person a signal names, kept as a contact record for identity resolution."""
        fields = {
            "name": payload.get("contact_name"),
            "email": payload.get("contact_email"),
            "phone": payload.get("contact_phone"),
        }
        if not any(fields.values()):
            return
        self.contact_records[("signal", signal_id)] = ContactRecord(
            "signal",
            signal_id,
            at,
            source_system=payload.get("source_system"),
            source_id=payload.get("source_id"),
            company_name=payload.get("company_name"),
            company_domain=payload.get("company_domain"),
            owner=payload.get("owner"),
            signal_ids=[signal_id],
            last_seen_at=at,
            **fields,
        )

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


class ClientRules(FoldState):
    """Clients: updated (a client exists once anything names it)."""

    def _client_updated(self, event: Event) -> str:
        client_id, payload = event["entity_id"], event.get("payload") or {}
        self._reference_client(client_id, event)
        client = self.clients[client_id]
        for name in ("name", "domain", "industry", "source_system", "source_id"):
            if name in payload:
                setattr(client, name, payload[name])
        client.last_event_at = event["occurred_at"]
        return Outcome.APPLIED

    def _client_decided(self, event: Event) -> str:
        """`client.merged` / `client.split`: an explicit identity decision (the identity step reads it)."""
        payload = event.get("payload") or {}
        other = payload.get("into_client_id", payload.get("from_client_id"))
        self._reference_client(event["entity_id"], event)
        self._reference_client(other, event)
        self._decide(event, "client", other)
        return Outcome.APPLIED


class ContactRules(FoldState):
    """Contacts: updated, linked, merged, split, erased. A contact exists once an event names it; none of
    these events changes a lifecycle state (identity resolution reads what they leave)."""

    def _contact(self, event: Event) -> ContactRecord:
        key = ("contact", event["entity_id"])
        if key not in self.contact_records:
            self.contact_records[key] = ContactRecord("contact", event["entity_id"], event["occurred_at"])
        record = self.contact_records[key]
        record.last_seen_at = event["occurred_at"]
        return record

    def _contact_updated(self, event: Event) -> str:
        record, payload = self._contact(event), event.get("payload") or {}
        for name in (
            *PERSONAL_FIELDS,
            "company_name",
            "company_domain",
            "owner",
            "source_system",
            "source_id",
        ):
            if name in payload:
                setattr(record, name, payload[name])
        if "client_id" in payload:
            record.client_id = None if payload["client_id"] is None else str(payload["client_id"])
            self._reference_client(record.client_id, event)
        return Outcome.APPLIED

    def _contact_linked(self, event: Event) -> str:
        record, payload = self._contact(event), event.get("payload") or {}
        if payload.get("client_id") is not None:
            record.client_id = str(payload["client_id"])
            self._reference_client(record.client_id, event)
        signal_id = payload.get("signal_id")
        if signal_id is not None and str(signal_id) not in record.signal_ids:
            record.signal_ids.append(str(signal_id))
        return Outcome.APPLIED

    def _contact_decided(self, event: Event) -> str:
        """`contact.merged` / `contact.split`: an explicit decision that overrides the matcher."""
        self._contact(event)
        payload = event.get("payload") or {}
        self._decide(event, "contact", payload.get("into_contact_id", payload.get("from_contact_id")))
        return Outcome.APPLIED

    def _contact_erased(self, event: Event) -> str:
        """Forget the person's fields as of the erasure (the erasure step scrubs every copy elsewhere)."""
        record = self._contact(event)
        for name in PERSONAL_FIELDS:
            setattr(record, name, None)
        record.erased_at = event["occurred_at"]
        return Outcome.APPLIED


class UserRules(FoldState):
    """Users: updated, erased. A user exists once an event names it; neither event changes a lifecycle
    state, and neither is ever rejected (a name is information, not a transition)."""

    def _user(self, event: Event) -> UserRecord:
        user_id = event["entity_id"]
        if user_id not in self.users:
            self.users[user_id] = UserRecord(user_id, event["occurred_at"])
        record = self.users[user_id]
        record.last_seen_at = event["occurred_at"]
        return record

    def _user_updated(self, event: Event) -> str:
        record, payload = self._user(event), event.get("payload") or {}
        for name in (*USER_PERSONAL_FIELDS, "role", "active", "source_system", "source_id"):
            if name in payload:
                setattr(record, name, payload[name])
        return Outcome.APPLIED

    def _user_erased(self, event: Event) -> str:
        """Forget the user's name as of the erasure (the erasure step scrubs the earlier copies)."""
        record = self._user(event)
        for name in USER_PERSONAL_FIELDS:
            setattr(record, name, None)
        record.erased_at = event["occurred_at"]
        return Outcome.APPLIED


class CandidateRules(FoldState):
    """Candidates: created, updated, status changes and the promotion to a pursuit."""

    def _candidate_fields(self, candidate: CandidateState, payload: Mapping[str, Any], event: Event) -> None:
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
        candidate = CandidateState(candidate_id, CANDIDATE_INITIAL, at, entered_state_at=at)
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
            pursuit = PursuitState(
                pursuit_id,
                candidate.id,
                PURSUIT_INITIAL,
                at,
                capture_lead=payload.get("capture_lead", candidate.owner),
                due_date=as_date(payload.get("due_date")),
                forecast_value_usd=payload.get("forecast_value_usd"),
                entered_state_at=at,
                last_event_at=at,
            )
            self.pursuits[pursuit_id] = pursuit
            candidate.pursuit_id = pursuit_id
            self._log_transition("pursuit", pursuit_id, None, PURSUIT_INITIAL, event, False)
        return outcome


class PursuitRules(FoldState):
    """Pursuits: stage changes through the map and the pink/red/proposal gates, checklists, proposals, updates."""

    def _missing(self, pursuit: PursuitState, checklist: str, at: datetime) -> list[str]:
        items = self.config.value(self.org_id, f"checklist.{checklist}.items", at)
        done = pursuit.checklists[checklist]
        return [item for item in items if not done.get(item, False)]

    def _gate(self, pursuit: PursuitState, target: str, at: datetime) -> Failure:
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
            pursuit.due_date = as_date(payload["due_date"])
        for name in ("forecast_value_usd", "compliance_score", "capture_lead"):
            if name in payload:
                setattr(pursuit, name, payload[name])
        pursuit.last_event_at = event["occurred_at"]
        return Outcome.APPLIED
