"""Salesforce exports → CRM-neutral records.

Reads the objects `User`, `Account`, `Contact`, `Lead`, `Opportunity`, `OpportunityHistory`, `Task` and
`Event` in any of the shapes tables.py folds together. `OpportunityHistory` comes two ways: Salesforce's
own object (one row per stage change: `OpportunityId`, `StageName`, `CreatedDate`) or a sync tool's
history mode of `Opportunity` (one row per version: `Id`, `StageName`, `_fivetran_start`); the columns
say which. Entity ids are `sf-` + the record's Id.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path

from .model import Activity, Company, Deal, Export, Person, StageStep, User, placeable
from .reading import (
    FUTURE,
    Reading,
    Row,
    email_domain,
    first_time,
    full_name,
    join_text,
    lookup,
    registrable_host,
)
from .tables import Table, as_bool, as_number, as_time

VENDOR = "salesforce"
OBJECTS = ("user", "account", "contact", "lead", "opportunity", "opportunity_history", "task", "event")
CREATED = ("created_date", "last_modified_date", "system_modstamp", "_fivetran_synced")
MODIFIED = ("last_modified_date", "system_modstamp", "created_date", "_fivetran_synced")
LOSS_REASON = ("loss_reason_c", "loss_reason", "closed_lost_reason_c", "reason_lost_c")
_DISMISSED = ("not converted", "unqualified", "disqualified", "junk")


def sf_id(source_id: str | None) -> str | None:
    return f"sf-{source_id.strip()}" if source_id and source_id.strip() else None


def read_salesforce(
    folder: Path, stage_map: Mapping[str, str], now: datetime, progress: Callable[[int], None] | None = None
) -> Export:
    """Read a Salesforce export folder. `stage_map`: casefolded stage name → target."""
    reading = Reading(folder, "sf", OBJECTS, now, progress)
    export = Export(VENDOR)
    reader = _Reader(reading, export, {k.casefold(): v for k, v in stage_map.items()})
    for key in OBJECTS:
        getattr(reader, f"_{key}")()
    reader.place_activities()
    export.outcomes = reading.finish(set(OBJECTS))
    return export


class _Reader:
    def __init__(self, reading: Reading, export: Export, stage_map: dict[str, str]) -> None:
        self.r = reading
        self.x = export
        self.stage_map = stage_map
        self.owners: dict[str, str] = {}
        self.activity_keys: dict[str, str] = {}

    def _owner(self, row: Row) -> str | None:
        user = row.get("owner_id")
        return self.owners.get(user, sf_id(user)) if user else None

    def _times(self, table: Table, number: int, key: str, row: Row):
        created, modified = first_time(row, *CREATED), first_time(row, *MODIFIED)
        if created is None or modified is None:
            self.r.skip(table, number, key, row.get("id"), "no readable date on the record")
            return None
        if self.r.future(created):
            self.r.skip(table, number, key, row.get("id"), FUTURE)
            return None
        modified = min(modified, self.r.now)
        return created, max(created, modified)

    def _user(self) -> None:
        for table, number, row in self.r.rows("user"):
            sid = row.get("id")
            if not sid:
                self.r.skip(table, number, "user", None, "no Id")
                continue
            # CRM users are owners and actors, not contacts: the owner field names them by email.
            name = row.get("name") or full_name(row.get("first_name"), row.get("last_name"))
            owner = self.owners[sid] = row.get("email") or name or sf_id(sid)
            self.x.users[owner] = User(
                owner,
                sid,
                name=name,
                email=(row.get("email") or "").strip() or None,
                title=row.get("title"),
                role=row.get("user_type"),
                active=as_bool(row.get("is_active")) if row.get("is_active") else None,
                at=first_time(row, *MODIFIED) or first_time(row, *CREATED),
            )
            self.r.mapped(table, number, "user", sid)

    def _account(self) -> None:
        for table, number, row in self.r.rows("account"):
            sid, times = row.get("id"), self._times(table, number, "account", row)
            if times is None:
                continue
            if not sid:
                self.r.skip(table, number, "account", None, "no Id")
                continue
            if not self.r.claim(table, number, "account", sid, times[1]):
                continue
            self.x.companies[sf_id(sid)] = Company(
                sf_id(sid),
                sid,
                *times,
                name=row.get("name"),
                domain=registrable_host(row.get("website")),
                industry=row.get("industry"),
                owner=self._owner(row),
            )
            self.r.mapped(table, number, "account", sid)

    def _person(self, key: str, table: Table, number: int, row: Row) -> Person | None:
        sid, times = row.get("id"), self._times(table, number, key, row)
        if times is None:
            return None
        if not sid:
            self.r.skip(table, number, key, None, "no Id")
            return None
        if not self.r.claim(table, number, key, sid, times[1]):
            return None
        email = (row.get("email") or "").strip() or None
        return Person(
            sf_id(sid),
            sid,
            *times,
            name=row.get("name") or full_name(row.get("first_name"), row.get("last_name")),
            email=email,
            phone=row.get("phone") or row.get("mobile_phone"),
            title=row.get("title"),
            owner=self._owner(row),
            lead_source=row.get("lead_source"),
            description=row.get("description"),
        )

    def _contact(self) -> None:
        for table, number, row in self.r.rows("contact"):
            person = self._person("contact", table, number, row)
            if person is None:
                continue
            account = row.get("account_id")
            person.client_id = sf_id(account) if sf_id(account) in self.x.companies else None
            self.x.people[person.id] = person
            self.r.mapped(table, number, "contact", person.source_id)

    def _lead(self) -> None:
        for table, number, row in self.r.rows("lead"):
            person = self._person("lead", table, number, row)
            if person is None:
                continue
            person.is_lead = person.inbound = True
            # A lead's company is free text: it stays on the person, it creates no client.
            person.company_name = row.get("company")
            person.company_domain = registrable_host(row.get("website")) or email_domain(person.email)
            person.status = row.get("status")
            if as_bool(row.get("is_converted")):
                person.converted_at = as_time(row.get("converted_date")) or person.modified_at
                person.converted_at = max(person.converted_at, person.created_at)
                person.converted_contact_id = sf_id(row.get("converted_contact_id"))
                person.converted_deal_id = sf_id(row.get("converted_opportunity_id"))
            elif person.status and any(word in person.status.casefold() for word in _DISMISSED):
                person.dismissed = True
            self.x.people[person.id] = person
            self.r.mapped(table, number, "lead", person.source_id)

    def _stage(self, row: Row) -> str | None:
        target = lookup(self.stage_map, row.get("stage_name"))
        if target is None and as_bool(row.get("is_closed")):
            # An org's own closed stage the map does not name still says whether it was won.
            target = "won" if as_bool(row.get("is_won")) else "lost"
        return target

    def _opportunity(self) -> None:
        for table, number, row in self.r.rows("opportunity"):
            sid, times = row.get("id"), self._times(table, number, "opportunity", row)
            if times is None:
                continue
            if not sid:
                self.r.skip(table, number, "opportunity", None, "no Id")
                continue
            if not self.r.claim(table, number, "opportunity", sid, times[1]):
                continue
            account = row.get("account_id")
            close = as_time(row.get("close_date"))
            deal = Deal(
                sf_id(sid),
                sid,
                *times,
                name=row.get("name"),
                client_id=sf_id(account) if sf_id(account) in self.x.companies else None,
                owner=self._owner(row),
                amount=as_number(row.get("amount")),
                close_date=close.date().isoformat() if close else None,
                loss_reason=next((row[c] for c in LOSS_REASON if row.get(c)), None),
            )
            target = self._stage(row)
            self.x.deals[sf_id(sid)] = deal
            if target is None:
                stage = row.get("stage_name") or ""
                self.r.unmapped(table, number, "opportunity", sid, "stage not in import.stage_map", stage)
                continue
            deal.current = StageStep(times[1], target, row.get("stage_name") or "")
            self.r.mapped(table, number, "opportunity", sid)

    def _opportunity_history(self) -> None:
        for table, number, row in self.r.rows("opportunity_history", history=True):
            own_object = "opportunity_id" in table.columns
            deal_sid = row.get("opportunity_id") if own_object else row.get("id")
            at = first_time(row, "created_date") if own_object else first_time(row, "_fivetran_start")
            self.r.stage_step(
                table,
                number,
                "opportunity_history",
                row.get("id"),
                self.x.deals.get(sf_id(deal_sid) or ""),
                at,
                (lambda row=row: self._stage(row), row.get("stage_name")),
                "opportunity",
            )

    def _activity(self, key: str) -> None:
        for table, number, row in self.r.rows(key):
            sid = row.get("id")
            at = first_time(row, "activity_date_time", "start_date_time", "created_date", "activity_date")
            text = join_text(row.get("subject"), row.get("description"))
            if not self.r.activity(table, number, key, sid, at, text, no_id="no Id"):
                continue
            self.activity_keys[f"sf-{sid}"] = key
            what, who = row.get("what_id") or "", row.get("who_id") or ""
            self.x.activities[f"sf-{sid}"] = Activity(
                f"sf-{sid}",
                sid,
                at,
                text,
                deal_id=sf_id(what) if sf_id(what) in self.x.deals else None,
                person_id=sf_id(who) if sf_id(who) in self.x.people else None,
                company_id=sf_id(what)
                if sf_id(what) in self.x.companies
                else sf_id(row.get("account_id"))
                if sf_id(row.get("account_id")) in self.x.companies
                else None,
                owner=self._owner(row),
            )
            self.r.mapped(table, number, key, sid)

    def _task(self) -> None:
        self._activity("task")

    def _event(self) -> None:
        self._activity("event")

    def place_activities(self) -> None:
        """An activity about nothing in the export has nowhere to go: skipped, not an error."""
        for entity_id, activity in list(self.x.activities.items()):
            if not placeable(self.x, activity):
                self.r.demote(
                    self.activity_keys[entity_id],
                    activity.source_id,
                    "skipped",
                    "what it is about is not in the export",
                )
                del self.x.activities[entity_id]
