"""HubSpot exports → CRM-neutral records.

Reads the tables a sync tool lands (Fivetran's names and columns: `property_*`, `is_deleted` /
`_fivetran_deleted`) and the same objects exported with HubSpot's internal property names (no
`property_` prefix): `owner`, `company`, `contact`, `deal`, `deal_pipeline`, `deal_pipeline_stage`,
`deal_stage` (stage history), `deal_company`, `deal_contact`, `engagement` with `engagement_note`,
`_call`, `_meeting`, `_email`, `_task`, and the links `engagement_deal`, `_contact`, `_company`.
Entity ids: `hs-company-<id>`, `hs-contact-<id>`, `hs-deal-<id>`.
"""

from __future__ import annotations

import html
import re
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
from .tables import as_bool, as_number, as_time

VENDOR = "hubspot"
KINDS = ("note", "call", "meeting", "email", "task")
LINKS = ("deal", "contact", "company")
OBJECTS = (
    "owner",
    "company",
    "contact",
    "deal_pipeline",
    "deal_pipeline_stage",
    "deal",
    "deal_stage",
    "deal_company",
    "deal_contact",
    *(f"engagement_{kind}" for kind in KINDS),
    "engagement",
    *(f"engagement_{link}" for link in LINKS),
)
# Text and time columns per engagement kind, in order of preference.
TEXT = {
    "note": ("hs_note_body", "hs_body_preview", "body"),
    "call": ("hs_call_title", "hs_call_body", "title", "body"),
    "meeting": ("hs_meeting_title", "hs_meeting_body", "title", "body"),
    "email": ("hs_email_subject", "hs_email_text", "subject", "text"),
    "task": ("hs_task_subject", "hs_task_body", "subject", "body"),
}
TIME = ("hs_timestamp", "start_time", "timestamp", "hs_createdate", "created_at", "_fivetran_synced")
# HubSpot's source property → the contract's signal source types.
SOURCE_TYPES = {
    "organic_search": "web",
    "direct_traffic": "web",
    "social_media": "web",
    "paid_search": "ad",
    "paid_social": "ad",
    "email_marketing": "email",
    "referrals": "referral",
    "offline": "call",
}
_TAG = re.compile(r"<[^>]+>")
# HubSpot's own export from its CRM pages: files named after the object list (`all-contacts.csv`,
# `hubspot-crm-exports-all-deals-2024-01-31.csv`) and columns named by property label (`Record ID`).
_UI_FILE = re.compile(r"(?:^|_)(contacts|companies|deals)(?:_|$)")
_UI_OBJECTS = {"contacts": "contact", "companies": "company", "deals": "deal"}
UI_COLUMNS = {
    "record_id": "id",
    "first_name": "firstname",
    "last_name": "lastname",
    "phone_number": "phone",
    "mobile_phone_number": "mobilephone",
    "job_title": "jobtitle",
    "create_date": "createdate",
    "last_modified_date": "hs_lastmodifieddate",
    "lead_status": "hs_lead_status",
    "original_source": "hs_analytics_source",
    "company_name": "name",
    "company_domain_name": "domain",
    "website_url": "website",
    "deal_name": "dealname",
    "deal_stage": "dealstage",
    "close_date": "closedate",
    "closed_lost_reason": "closed_lost_reason",
    "contact_owner": "hubspot_owner_id",
    "company_owner": "hubspot_owner_id",
    "deal_owner": "hubspot_owner_id",
    "associated_company_ids_primary": "associatedcompanyid",
    "associated_company_i_ds_primary": "associatedcompanyid",  # `IDs` split as if camel case
    "primary_associated_company_id": "associatedcompanyid",
    "associated_company_id": "associatedcompanyid",
}


def ui_key(key: str) -> str:
    """`hubspot_crm_exports_all_deals_2024_01_31` → `deal`; any other key as it is."""
    if key in OBJECTS:
        return key
    match = _UI_FILE.search(key)
    return _UI_OBJECTS[match.group(1)] if match else key


def hs_id(kind: str, source_id: str | None) -> str | None:
    return f"hs-{kind}-{source_id.strip()}" if source_id and source_id.strip() else None


def prop(row: Row, *names: str) -> str | None:
    """A property under its sync-tool name (`property_x`) or its plain internal name (`x`)."""
    for name in names:
        value = row.get(f"property_{name}") or row.get(name)
        if value is not None:
            return value
    return None


def plain(text: str | None) -> str | None:
    """HubSpot stores note and email bodies as HTML: the text a reader sees."""
    if text is None:
        return None
    return " ".join(html.unescape(_TAG.sub(" ", text)).split()) or None


def _merged(vids: str | None) -> list[tuple[str, datetime]]:
    """`hs_calculated_merged_vids` (`76340251:1661707291575;…`): the contacts HubSpot merged into this
    one, each with when (epoch milliseconds)."""
    merged = []
    for item in (vids or "").split(";"):
        vid, _, millis = item.strip().partition(":")
        at = as_time(millis) if millis else None
        if vid.isdigit() and at is not None:
            merged.append((f"hs-contact-{vid}", at))
    return merged


def read_hubspot(
    folder: Path, stage_map: Mapping[str, str], now: datetime, progress: Callable[[int], None] | None = None
) -> Export:
    """Read a HubSpot export folder. `stage_map`: casefolded stage id or label → target."""
    reading = Reading(folder, "", OBJECTS, now, progress, key_of=ui_key, aliases=UI_COLUMNS)
    export = Export(VENDOR)
    reader = _Reader(reading, export, {k.casefold(): v for k, v in stage_map.items()})
    reader.read()
    export.outcomes = reading.finish(set(OBJECTS))
    return export


class _Reader:
    def __init__(self, reading: Reading, export: Export, stage_map: dict[str, str]) -> None:
        self.r = reading
        self.x = export
        self.stage_map = stage_map
        self.owners: dict[str, str] = {}
        self.stages: dict[str, Row] = {}
        self.activity_keys: dict[str, str] = {}

    def read(self) -> None:
        self._owners()
        self._companies()
        self._contacts()
        for table, number, row in self.r.rows("deal_pipeline"):
            self.r.mapped(table, number, "deal_pipeline", row.get("pipeline_id"))
        for table, number, row in self.r.rows("deal_pipeline_stage"):
            if stage_id := row.get("stage_id"):
                self.stages[stage_id] = row
            self.r.mapped(table, number, "deal_pipeline_stage", stage_id)
        self._deals()
        self._stage_history()
        self._deal_links()
        for kind in KINDS:
            self._engagements(kind)
        self._engagement_links()
        self._place()
        for table, number, row in self.r.rows("engagement"):
            if f"hs-engagement-{row.get('id')}" in self.x.activities:
                self.r.mapped(table, number, "engagement", row.get("id"))
            else:
                self.r.skip(table, number, "engagement", row.get("id"), "no note for it in the export")

    def _owner(self, row: Row, *columns: str) -> str | None:
        owner = prop(row, *columns) if columns else prop(row, "hubspot_owner_id", "owner_id")
        if not owner:
            return None
        # A CRM-page export names the owner ("Jane Doe"), a sync tool by id.
        return self.owners.get(owner, hs_id("owner", owner) if owner.isdigit() else owner)

    def _times(self, row: Row):
        created = first_time(row, "property_createdate", "createdate", "created_at", "_fivetran_synced")
        modified = first_time(
            row,
            "property_hs_lastmodifieddate",
            "hs_lastmodifieddate",
            "property_lastmodifieddate",
            "lastmodifieddate",
            "updated_at",
        )
        if created is None:
            return None
        return created, max(created, modified or created)

    def _owners(self) -> None:
        for table, number, row in self.r.rows("owner"):
            oid = row.get("owner_id") or row.get("id")
            if not oid:
                self.r.skip(table, number, "owner", None, "no owner_id")
                continue
            # Owners are the CRM's users: owners and actors, never contacts.
            name = full_name(row.get("first_name"), row.get("last_name"))
            owner = self.owners[oid] = row.get("email") or name or oid
            times = self._times(row)
            self.x.users[owner] = User(
                owner,
                oid,
                name=name,
                email=(row.get("email") or "").strip() or None,
                role=(row.get("type") or "").strip().lower() or None,
                active=bool(row.get("active_user_id")) if "active_user_id" in row else None,
                at=times[1] if times else None,
            )
            self.r.mapped(table, number, "owner", oid)

    def _record(self, key: str, table, number: int, row: Row, *id_columns: str):
        sid = next((row[c] for c in id_columns if row.get(c)), None)
        times = self._times(row)
        if not sid or times is None or self.r.future(times[0]):
            reason = "no id" if not sid else "no readable create date" if times is None else FUTURE
            self.r.skip(table, number, key, sid, reason)
            return None
        times = (times[0], min(times[1], self.r.now))
        if not self.r.claim(table, number, key, sid, times[1]):
            return None
        return sid, times

    def _companies(self) -> None:
        for table, number, row in self.r.rows("company"):
            if (got := self._record("company", table, number, row, "id", "company_id", "record_id")) is None:
                continue
            sid, times = got
            self.x.companies[hs_id("company", sid)] = Company(
                hs_id("company", sid),
                sid,
                *times,
                name=prop(row, "name"),
                domain=registrable_host(prop(row, "domain", "website")),
                industry=prop(row, "industry"),
                owner=self._owner(row),
            )
            self.r.mapped(table, number, "company", sid)

    def _contacts(self) -> None:
        for table, number, row in self.r.rows("contact"):
            if (got := self._record("contact", table, number, row, "id", "vid", "record_id")) is None:
                continue
            sid, times = got
            email = (prop(row, "email") or "").strip() or None
            company = prop(row, "associatedcompanyid")
            source = (prop(row, "hs_analytics_source") or "").casefold()
            lead_status = (prop(row, "hs_lead_status") or "").casefold()
            # A HubSpot contact is how a person reached the team: a contact and an inbound signal.
            self.x.people[hs_id("contact", sid)] = Person(
                hs_id("contact", sid),
                sid,
                *times,
                inbound=True,
                name=full_name(prop(row, "firstname", "first_name"), prop(row, "lastname", "last_name")),
                email=email,
                phone=prop(row, "phone", "mobilephone"),
                title=prop(row, "jobtitle"),
                client_id=hs_id("company", company)
                if hs_id("company", company) in self.x.companies
                else None,
                company_name=prop(row, "company") or row.get("name"),  # a CRM-page export's "Company Name"
                company_domain=email_domain(email),
                owner=self._owner(row),
                lead_source=SOURCE_TYPES.get(source),
                status=lead_status or None,
                dismissed=lead_status in ("unqualified", "bad_timing"),
            )
            self.x.people[hs_id("contact", sid)].merged_from = _merged(prop(row, "hs_calculated_merged_vids"))
            self.r.mapped(table, number, "contact", sid)

    def _stage(self, stage_id: str | None) -> str | None:
        info = self.stages.get(stage_id or "", {})
        target = lookup(self.stage_map, stage_id, info.get("label"))
        if target is None and as_bool(info.get("is_closed")):
            # The pipeline's own stage table says whether a closed stage was won.
            target = "won" if as_bool(info.get("closed_won")) else "lost"
        return target

    def _deals(self) -> None:
        for table, number, row in self.r.rows("deal"):
            if (got := self._record("deal", table, number, row, "deal_id", "id", "record_id")) is None:
                continue
            sid, times = got
            close = as_time(prop(row, "closedate"))
            stage_id = row.get("deal_pipeline_stage_id") or prop(row, "dealstage")
            deal = Deal(
                hs_id("deal", sid),
                sid,
                *times,
                name=prop(row, "dealname"),
                owner=self._owner(row, "hubspot_owner_id", "owner_id"),
                amount=as_number(prop(row, "amount")),
                close_date=close.date().isoformat() if close else None,
                loss_reason=prop(row, "closed_lost_reason"),
            )
            company = prop(row, "associatedcompanyid")
            deal.client_id = (
                hs_id("company", company) if hs_id("company", company) in self.x.companies else None
            )
            self.x.deals[hs_id("deal", sid)] = deal
            if (target := self._stage(stage_id)) is None:
                value = stage_id or ""
                reason = "stage not in import.stage_map" if value else "no stage on the deal"
                self.r.unmapped(table, number, "deal", sid, reason, value)
                continue
            deal.current = StageStep(times[1], target, stage_id or "")
            self.r.mapped(table, number, "deal", sid)

    def _stage_history(self) -> None:
        for table, number, row in self.r.rows("deal_stage", history=True):
            stage_id = row.get("value")
            self.r.stage_step(
                table,
                number,
                "deal_stage",
                row.get("deal_id"),
                self.x.deals.get(hs_id("deal", row.get("deal_id")) or ""),
                first_time(row, "date_entered", "_fivetran_start"),
                (lambda stage_id=stage_id: self._stage(stage_id), stage_id),
                "deal",
            )

    def _deal_links(self) -> None:
        for key, other in (("deal_company", "company_id"), ("deal_contact", "contact_id")):
            for table, number, row in self.r.rows(key):
                deal = self.x.deals.get(hs_id("deal", row.get("deal_id")) or "")
                target = row.get(other) or ""
                known = hs_id("company" if key == "deal_company" else "contact", target) in (
                    self.x.companies if key == "deal_company" else self.x.people
                )
                if deal is None or not known:
                    self.r.skip(
                        table, number, key, row.get("deal_id"), "one side of the link is not imported"
                    )
                    continue
                if key == "deal_company":
                    deal.client_id = deal.client_id or hs_id("company", target)
                elif (contact := hs_id("contact", target)) not in deal.contact_ids:
                    deal.contact_ids.append(contact)
                self.r.mapped(table, number, key, row.get("deal_id"))

    def _engagements(self, kind: str) -> None:
        key = f"engagement_{kind}"
        for table, number, row in self.r.rows(key):
            sid = row.get("engagement_id") or row.get("id")
            at = first_time(row, *(f"property_{c}" for c in TIME), *TIME)
            text = join_text(*(plain(prop(row, c)) for c in TEXT[kind][:2])) or join_text(
                *(plain(prop(row, c)) for c in TEXT[kind][2:])
            )
            if not self.r.activity(table, number, key, sid, at, text):
                continue
            self.activity_keys[f"hs-engagement-{sid}"] = key
            self.x.activities[f"hs-engagement-{sid}"] = Activity(
                f"hs-engagement-{sid}", sid, at, text, owner=self._owner(row, "hubspot_owner_id")
            )
            self.r.mapped(table, number, key, sid)

    def _engagement_links(self) -> None:
        for link in LINKS:
            key = f"engagement_{link}"
            known = {"deal": self.x.deals, "contact": self.x.people, "company": self.x.companies}[link]
            for table, number, row in self.r.rows(key):
                activity = self.x.activities.get(f"hs-engagement-{row.get('engagement_id')}")
                target = row.get(f"{link}_id") or ""
                if activity is None or hs_id(link, target) not in known:
                    self.r.skip(
                        table, number, key, row.get("engagement_id"), "one side of the link is not imported"
                    )
                    continue
                setattr(activity, f"{'person' if link == 'contact' else link}_id", hs_id(link, target))
                self.r.mapped(table, number, key, row.get("engagement_id"))

    def _place(self) -> None:
        for entity_id, activity in list(self.x.activities.items()):
            if not placeable(self.x, activity):
                self.r.demote(
                    self.activity_keys[entity_id],
                    activity.source_id,
                    "skipped",
                    "what it is about is not in the export",
                )
                del self.x.activities[entity_id]
