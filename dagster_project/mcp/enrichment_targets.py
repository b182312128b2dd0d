"""What enrichment calls a server about, read from the published snapshot: an opted-in org's new
signals and new contacts that name a company domain, each with the client its answer updates.

A signal is new when it was created at or after the org's opt-in; a contact when its first event is
(a person known before the opt-in is not sent anywhere for it). An erased contact is never a target.
Only the domain leaves: a signal's `company_domain` or its sender's email domain; a contact's
`company_domain` or its email domain.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import duckdb
import orjson

DOMAIN = re.compile(
    r"^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+$"
)
# The company fields of `contact.updated` an answer may fill when the contact's own events left them
# empty; a source system's value is never overwritten by an enrichment.
CONTACT_GAPS = ("company_name", "company_domain", "client_id")
_ISO = "strftime(occurred_at, '%Y-%m-%dT%H:%M:%S.%fZ')"


def domain_of(payload: Mapping[str, Any]) -> str | None:
    """The company domain a payload names (`company_domain`, else an email's domain), if well formed."""
    emails = (str(payload.get(key) or "").rpartition("@")[2] for key in ("contact_email", "email"))
    for raw in (payload.get("company_domain"), *emails):
        if isinstance(raw, str):
            candidate = raw.strip().lower().removeprefix("www.")
            if DOMAIN.match(candidate):
                return candidate
    return None


def _clients_by_domain(con: duckdb.DuckDBPyConnection, org_id: str) -> dict[str, str]:
    return dict(
        con.execute(
            "select lower(domain), min(client_id) from marts.clients where org_id = ? and domain is not null group by 1",
            [org_id],
        ).fetchall()
    )


def _target(org_id: str, event_id: str, entity_type: str, entity_id: str, occurred: str, domain: str,
            client_id: str, gaps: list[str] | None = None) -> dict[str, Any]:  # fmt: skip
    return {
        "org_id": org_id,
        "event_id": event_id,
        "entity_type": entity_type,
        "entity_id": entity_id,
        "occurred_at": occurred,
        "domain": domain,
        "client_id": client_id,
        "gaps": gaps,
    }


def signal_targets(con: duckdb.DuckDBPyConnection, org_id: str, since: datetime | None) -> list[dict]:
    """The org's `signal.created` events since `since` that name a domain."""
    rows = con.execute(
        f"select event_id, entity_id, {_ISO}, payload from marts.events "
        "where org_id = ? and event_name = 'signal.created' and (?::timestamptz is null or occurred_at >= ?) "
        "order by occurred_at, event_id",
        [org_id, since, since],
    ).fetchall()
    clients = _clients_by_domain(con, org_id)
    found = []
    for event_id, signal_id, occurred, payload in rows:
        domain = domain_of(orjson.loads(payload) if payload else {})
        if domain is not None:
            client_id = clients.get(domain) or f"cli-{domain}"
            found.append(_target(org_id, event_id, "signal", signal_id, occurred, domain, client_id))
    return found


def contact_targets(con: duckdb.DuckDBPyConnection, org_id: str, since: datetime | None) -> list[dict]:
    """The org's contacts first seen since `since`, not erased, each by its earliest `contact.updated`
    that names a domain, with the company fields none of its events gave (`gaps`)."""
    rows = con.execute(
        f"""
        with contact_events as (
            select event_id, entity_id, event_name, occurred_at, payload from marts.events
            where org_id = ? and entity_type = 'contact'
        ),
        new_contacts as (
            select entity_id from contact_events group by entity_id
            having (?::timestamptz is null or min(occurred_at) >= ?)
               and not bool_or(event_name = 'contact.erased')
        )
        select event_id, entity_id, event_name, {_ISO}, payload from contact_events
        where entity_id in (select entity_id from new_contacts)
        order by entity_id, occurred_at, event_id
        """,
        [org_id, since, since],
    ).fetchall()
    clients = _clients_by_domain(con, org_id)
    events: dict[str, list[tuple[str, str, str, dict]]] = {}
    for event_id, contact_id, name, occurred, payload in rows:
        events.setdefault(contact_id, []).append((event_id, name, occurred, orjson.loads(payload or "{}")))
    found = []
    for contact_id, history in events.items():
        given = {key for _, _, _, payload in history for key in CONTACT_GAPS if payload.get(key)}
        for event_id, name, occurred, payload in history:
            domain = domain_of(payload) if name == "contact.updated" else None
            if domain is not None:
                client_id = clients.get(domain) or payload.get("client_id") or f"cli-{domain}"
                gaps = [key for key in CONTACT_GAPS if key not in given]
                found.append(
                    _target(org_id, event_id, "contact", contact_id, occurred, domain, client_id, gaps)
                )
                break
    return found
