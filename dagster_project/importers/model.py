"""The CRM-neutral records both vendor readers produce, and the report row every input row gets.

A reader turns each row of each object file into at most one record and exactly one `Outcome`; the
mapping (mapping.py) turns records into contract events. Ids here are already the entity ids the events
use (`sf-0065g00000AbCdE`, `hs-deal-123`), so a user finds the CRM record back from any table.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

MAPPED = "mapped"
SKIPPED = "skipped"
UNMAPPED = "unmapped"
ABSENT = "absent"
OUTCOMES = (MAPPED, SKIPPED, UNMAPPED, ABSENT)


@dataclass(frozen=True)
class Outcome:
    """What became of one input row (row 0: the whole file, e.g. an object file absent from the export)."""

    file: str
    row: int
    object: str
    source_id: str | None
    outcome: str
    reason: str = ""
    value: str = ""


@dataclass
class Company:
    id: str
    source_id: str
    created_at: datetime
    modified_at: datetime
    name: str | None = None
    domain: str | None = None
    industry: str | None = None
    owner: str | None = None


@dataclass
class Person:
    """A contact, or a lead (`is_lead`): a lead is also an inbound signal with the same id."""

    id: str
    source_id: str
    created_at: datetime
    modified_at: datetime
    is_lead: bool = False
    inbound: bool = False  # also a signal (leads; HubSpot contacts)
    name: str | None = None
    email: str | None = None
    phone: str | None = None
    title: str | None = None
    client_id: str | None = None
    company_name: str | None = None
    company_domain: str | None = None
    owner: str | None = None
    lead_source: str | None = None
    description: str | None = None
    status: str | None = None
    dismissed: bool = False  # closed without converting
    converted_at: datetime | None = None
    converted_contact_id: str | None = None
    converted_deal_id: str | None = None
    merged_from: list[tuple[str, datetime]] = field(
        default_factory=list
    )  # (contact id, when) the CRM merged in


@dataclass(frozen=True)
class StageStep:
    """The deal entered `target` (a contract stage or `candidate`) at `at`, as the CRM recorded it."""

    at: datetime
    target: str
    stage_name: str


@dataclass
class Deal:
    id: str
    source_id: str
    created_at: datetime
    modified_at: datetime
    name: str | None = None
    client_id: str | None = None
    owner: str | None = None
    amount: float | None = None
    close_date: str | None = None  # YYYY-MM-DD
    current: StageStep | None = None  # the stage the record shows now (None: unmapped)
    history: list[StageStep] = field(default_factory=list)
    loss_reason: str | None = None
    contact_ids: list[str] = field(default_factory=list)


@dataclass
class Activity:
    """A task, event, call, meeting, email or note with text: a note on what it is about."""

    id: str
    source_id: str
    at: datetime
    text: str
    deal_id: str | None = None
    person_id: str | None = None
    company_id: str | None = None
    owner: str | None = None


@dataclass
class User:
    """A CRM user (an owner, an actor; never a contact). `id` is the value the other records' `owner`
    carries for them, so the user event names exactly the owner pages show."""

    id: str
    source_id: str
    name: str | None = None
    email: str | None = None
    title: str | None = None
    role: str | None = None
    active: bool | None = None
    at: datetime | None = None  # when the CRM says the record was last changed, if it says


@dataclass
class Export:
    """Everything one export holds, as records, with one outcome per input row."""

    vendor: str
    companies: dict[str, Company] = field(default_factory=dict)
    people: dict[str, Person] = field(default_factory=dict)
    deals: dict[str, Deal] = field(default_factory=dict)
    activities: dict[str, Activity] = field(default_factory=dict)
    users: dict[str, User] = field(default_factory=dict)
    outcomes: list[Outcome] = field(default_factory=list)


def placeable(export: Export, activity: Activity) -> bool:
    """Whether an activity is about an entity memory can hold (a deal, a company, or a person who is a
    signal or works for an imported company). The export's records are keyed by entity id."""
    if activity.deal_id or activity.company_id:
        return True
    person = export.people.get(activity.person_id) if activity.person_id else None
    return person is not None and (person.inbound or person.client_id is not None)
