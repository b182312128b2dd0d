"""CRM-neutral records → contract events, deterministically.

Ids. A creation event has a fixed id (`<entity>:<type>:created`) and carries only what cannot change in
the CRM (the source system and id, a signal's source type), so a newer export repeats it byte for byte.
Everything a CRM user can edit (names, emails, amounts, owners) travels in an update event dated at the
record's last modification, whose id ends in a hash of its content: the same export gives the same ids
(duplicates, applied once), a record edited since gives one new update event, later in time, that wins.

What becomes what (docs/import.md has the tables): companies → clients; people → contacts, and an
inbound person (a lead, a HubSpot contact) also a signal linked to its contact; deals → a candidate
(triaged at creation), promoted to a pursuit of the same id when the deal first reaches a pursuit stage;
stage history → stage changes at their recorded times; activities with text → notes on what they are about.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from dagster_project.config.import_stages import CANDIDATE_STAGE
from dagster_project.config.registry import NOTE_RULES
from dagster_project.contract.events import REASON_CODES, SOURCE_TYPES
from dagster_project.memory.classify import classify

from .model import Activity, Company, Deal, Export, Person, StageStep, User

Event = tuple[str, str, str, str, str, str, str | None, dict[str, Any]]
CLOSED = ("won", "lost")
RETENTION_CHOICES = ("crm", "keep")
# `keep`: an imported note never expires by age (only a redaction removes it); far ahead, within the contract.
KEEP_UNTIL = datetime(9999, 12, 31, tzinfo=UTC)
# Salesforce's stock LeadSource picklist (and close variants) → the contract's signal source types.
LEAD_SOURCES = {
    "web": "web",
    "website": "web",
    "phone inquiry": "call",
    "phone": "call",
    "cold call": "call",
    "partner referral": "referral",
    "employee referral": "referral",
    "external referral": "referral",
    "referral": "referral",
    "partner": "referral",
    "advertisement": "ad",
    "ad": "ad",
    "email": "email",
    "purchased list": "email",
    "trade show": "note",
    "seminar - internal": "note",
    "seminar - partner": "note",
    "word of mouth": "referral",
}


def stamp(at: datetime) -> str:
    """RFC 3339 in UTC to the microsecond: one spelling per instant, so equal times give equal bytes."""
    utc = at if at.tzinfo is UTC else at.astimezone(UTC)
    return utc.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def _digest(*parts: Any) -> str:
    return hashlib.blake2b(orjson.dumps(parts, option=orjson.OPT_SORT_KEYS), digest_size=8).hexdigest()


def _compact(payload: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in payload.items() if v is not None and v != []}


@dataclass
class Mapper:
    """Maps one export's records for `org` to events; `retention` chooses how old notes expire."""

    export: Export
    org: str
    retention: str = "crm"
    now: datetime | None = None  # the import's clock: nothing is dated after it

    def __post_init__(self) -> None:
        self.system = self.export.vendor
        self.events: list[Event] = []
        self.promoted_at: dict[str, datetime] = {}

    def _source(self, record: Any) -> dict[str, str]:
        return {"source_system": self.system, "source_id": record.source_id}

    def emit(
        self,
        at: datetime,
        name: str,
        etype: str,
        entity: str,
        actor: str | None,
        payload: dict[str, Any],
        tag: str = "",
    ) -> None:
        """One event; `tag` gives a fixed id (creation), else the id hashes the event's content."""
        ts = stamp(at)
        payload = _compact(payload)
        kind = name.split(".", 1)[1]
        suffix = tag or f"{kind}:{_digest(name, entity, ts, actor, payload)}"
        self.events.append((f"{entity}:{etype}:{suffix}", self.org, ts, name, etype, entity, actor, payload))

    def run(self) -> list[Event]:
        x = self.export
        for company in x.companies.values():
            self._company(company)
        for person in x.people.values():
            self._person(person)
        for deal in x.deals.values():
            self._deal(deal)
        self._conversions()
        touched: dict[str, datetime] = {}
        for activity in sorted(x.activities.values(), key=lambda a: (a.at, a.id)):
            self._activity(activity, touched)
        for person_id, at in touched.items():
            self.emit(
                at, "signal.touched", "signal", person_id, x.people[person_id].owner, {"channel": "crm"}
            )
        self._users()
        unique = {event[0]: event for event in self.events}  # the same fact twice is one event
        return sorted(unique.values(), key=lambda e: (e[2], e[0]))

    # --- clients and contacts -------------------------------------------------------------------------

    def _company(self, c: Company) -> None:
        self.emit(c.created_at, "client.updated", "client", c.id, c.owner, self._source(c), tag="created")
        fields = {"name": c.name, "domain": c.domain, "industry": c.industry, "owner": c.owner}
        self.emit(c.modified_at, "client.updated", "client", c.id, c.owner, fields | self._source(c))

    def _users(self) -> None:
        """Who the owners are: one `user.updated` per CRM user, keyed by the owner value the records carry.

        Dated at the export's first event, or the user record's own time if earlier, so the name is known
        for everything the user owns; without either, at the import's clock."""
        first = min((datetime.fromisoformat(e[2]) for e in self.events), default=None)
        for u in sorted(self.export.users.values(), key=lambda u: u.id):
            at = min((t for t in (first, u.at) if t is not None), default=self.now)
            if at is None:
                continue
            self._user(u, at)

    def _user(self, u: User, at: datetime) -> None:
        fields = {"name": u.name, "email": u.email, "title": u.title, "role": u.role, "active": u.active}
        self.emit(at, "user.updated", "user", u.id, None, fields | self._source(u))

    def _person(self, p: Person) -> None:
        self.emit(p.created_at, "contact.updated", "contact", p.id, p.owner, self._source(p), tag="created")
        fields = {
            "name": p.name,
            "email": p.email,
            "phone": p.phone,
            "title": p.title,
            "client_id": p.client_id,
            "company_name": p.company_name,
            "company_domain": p.company_domain,
            "owner": p.owner,
        }
        self.emit(p.modified_at, "contact.updated", "contact", p.id, p.owner, fields | self._source(p))
        if not p.inbound:
            if p.description and p.client_id:
                self._note(p.created_at, "client", p.client_id, p.owner, p.description, p.id)
            return
        source = (p.lead_source or "").strip().casefold()
        source_type = source if source in SOURCE_TYPES else LEAD_SOURCES.get(source, "web")
        created = {"source_type": source_type} | self._source(p)
        self.emit(p.created_at, "signal.created", "signal", p.id, p.owner, created, tag="created")
        if p.owner:
            self.emit(p.modified_at, "signal.updated", "signal", p.id, p.owner, {"owner": p.owner})
        self.emit(p.created_at, "contact.linked", "contact", p.id, p.owner, {"signal_id": p.id}, tag="linked")
        if p.description:
            self._note(p.created_at, "signal", p.id, p.owner, p.description, p.id)
        if p.dismissed:
            self.emit(p.modified_at, "signal.dismissed", "signal", p.id, p.owner, {"reason": p.status})

    def _conversions(self) -> None:
        """A converted lead: the CRM's own decision that the lead is that contact, and the opportunity
        it became takes the lead's signal. A HubSpot merge is such a decision too."""
        for p in self.export.people.values():
            for other_id, merged_at in p.merged_from:
                other = self.export.people.get(other_id)
                if other is not None and other_id != p.id:
                    at = max(merged_at, p.created_at, other.created_at)
                    self.emit(at, "contact.merged", "contact", other_id, p.owner, {"into_contact_id": p.id})
            if p.converted_at is None:
                continue
            self.emit(p.converted_at, "signal.touched", "signal", p.id, p.owner, {"channel": "conversion"})
            if p.converted_contact_id in self.export.people and p.converted_contact_id != p.id:
                merge = {"into_contact_id": p.converted_contact_id}
                self.emit(p.converted_at, "contact.merged", "contact", p.id, p.owner, merge)
            deal = self.export.deals.get(p.converted_deal_id or "")
            if deal is not None:
                at = max(p.converted_at, deal.created_at)
                self.emit(at, "candidate.updated", "candidate", deal.id, deal.owner, {"signal_ids": [p.id]})

    # --- deals ----------------------------------------------------------------------------------------

    def steps(self, d: Deal) -> list[StageStep]:
        """The stages the deal went through, in time order, repeats dropped; the current stage last."""
        steps = sorted(d.history, key=lambda s: (s.at, s.stage_name))
        current = d.current or StageStep(d.created_at, CANDIDATE_STAGE, "")
        if not steps:
            steps = [
                StageStep(d.created_at, CANDIDATE_STAGE if current.target in CLOSED else current.target, "")
            ]
            if current.target in CLOSED:
                # No history: the close date is when it closed (not before its creation, nor after now).
                close = max(_date_time(d.close_date) or d.modified_at, d.created_at)
                steps.append(StageStep(min(close, self.now) if self.now else close, current.target, ""))
        elif steps[-1].target != current.target and d.current is not None:
            steps.append(StageStep(max(d.modified_at, steps[-1].at), current.target, current.stage_name))
        out: list[StageStep] = []
        for step in steps:
            if not out or out[-1].target != step.target:
                out.append(step)
        return out

    def _deal(self, d: Deal) -> None:
        # The name can be edited in the CRM: the creation names the record, the update below its name.
        title = {"title": f"{self.system} {d.source_id}"}
        self.emit(
            d.created_at,
            "candidate.created",
            "candidate",
            d.id,
            d.owner,
            title | self._source(d),
            tag="created",
        )
        self.emit(
            d.created_at,
            "candidate.status_changed",
            "candidate",
            d.id,
            d.owner,
            {"to": "triaged"},
            tag="triaged",
        )
        pursuit_stage: str | None = None
        for step in self.steps(d):
            at = max(step.at, d.created_at)
            target = step.target
            if pursuit_stage is None:
                if target == CANDIDATE_STAGE:
                    continue
                promoted = {"pursuit_id": d.id} | self._source(d)
                self.emit(at, "candidate.promoted", "candidate", d.id, d.owner, promoted, tag="promoted")
                self.promoted_at[d.id] = at
                pursuit_stage = "qual"
            if target == CANDIDATE_STAGE:
                target = "qual"  # a pursuit cannot become a candidate again: back to its first stage
            if target != pursuit_stage:
                self.emit(at, "pursuit.stage_changed", "pursuit", d.id, d.owner, self._close(d, target))
                pursuit_stage = target
        fields = {"title": d.name, "client_id": d.client_id, "owner": d.owner}
        self.emit(max(d.modified_at, d.created_at), "candidate.updated", "candidate", d.id, d.owner, fields)
        if d.id in self.promoted_at:
            values = {
                "forecast_value_usd": d.amount if d.amount is not None and d.amount >= 0 else None,
                "due_date": d.close_date,
                "capture_lead": d.owner,
            }
            at = max(d.modified_at, self.promoted_at[d.id])
            self.emit(at, "pursuit.updated", "pursuit", d.id, d.owner, values)
        for contact_id in d.contact_ids:
            person = self.export.people[contact_id]
            if d.client_id and not person.client_id:
                self.emit(
                    max(d.created_at, person.created_at),
                    "contact.linked",
                    "contact",
                    contact_id,
                    d.owner,
                    {"client_id": d.client_id},
                )
            if person.inbound:
                at = max(d.created_at, person.created_at)
                self.emit(at, "candidate.updated", "candidate", d.id, d.owner, {"signal_ids": [contact_id]})

    def _close(self, d: Deal, target: str) -> dict[str, Any]:
        payload: dict[str, Any] = {"to": target}
        if target == "lost" and d.loss_reason:
            payload["reason"] = d.loss_reason
            code = d.loss_reason.strip().casefold().replace(" ", "_")
            payload["reason_code"] = code if code in REASON_CODES else "other"
        return payload

    # --- notes ----------------------------------------------------------------------------------------

    def _activity(self, a: Activity, touched: dict[str, datetime]) -> None:
        x = self.export
        person = x.people.get(a.person_id) if a.person_id else None
        if person is not None and person.inbound and a.at >= person.created_at:
            touched[person.id] = min(touched.get(person.id, a.at), a.at)
        if a.deal_id:
            deal = x.deals[a.deal_id]
            promoted = self.promoted_at.get(deal.id)
            at = max(a.at, deal.created_at)
            etype = "pursuit" if promoted is not None and at >= promoted else "candidate"
            self._note(at, etype, deal.id, a.owner, a.text, a.id)
        elif person is not None and person.inbound:
            self._note(max(a.at, person.created_at), "signal", person.id, a.owner, a.text, a.id)
        elif person is not None and person.client_id:
            self._note(a.at, "client", person.client_id, a.owner, a.text, a.id)
        elif a.company_id:
            self._note(a.at, "client", a.company_id, a.owner, a.text, a.id)

    def _note(self, at: datetime, etype: str, entity: str, actor: str | None, text: str, source: str) -> None:
        if self.retention == "crm":
            self.emit(at, f"{etype}.note_added", etype, entity, actor, {"text": text, "source_id": source})
            return
        # `keep`: the same type the note would get, with an explicit expiry that wins over retention. It
        # depends on nothing but the note, so a newer export repeats it byte for byte.
        atom_type, _ = classify(text, NOTE_RULES)
        payload = {
            "atom_type": atom_type,
            "content": text,
            "expires_at": stamp(KEEP_UNTIL),
            "source": {"system": self.system},
            "source_id": source,
        }
        self.emit(at, "memory.recorded", etype, entity, actor, payload)


def _date_time(text: str | None) -> datetime | None:
    if not text:
        return None
    return datetime.fromisoformat(text).replace(tzinfo=UTC)
