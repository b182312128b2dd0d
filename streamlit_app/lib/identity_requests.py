"""Identity requests from the dashboard: a governor's merge or split, or a request to forget a person, as
one contract event in the inbox.

Like memory governance (`lib/governance.py`), the dashboard never changes the warehouse: a decision
becomes a `contact.merged` / `contact.split` / `client.merged` / `client.split` event (docs/contract.md),
a request to forget a person a `contact.erased` event, in `governance-<event_id>.jsonl` (the governance
writer's file), written under a `.tmp` name and renamed, and the next run applies it.

Forgetting a person is for the org's governors (and admins) only, and `request_erasure` checks that
itself against the access store's grants as they are now, whatever the page showed or the session holds.
Nothing here touches Streamlit.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import uuid
from collections.abc import Collection
from pathlib import Path

from dagster_project import access
from dagster_project.contract.events import EVENTS, MAX_ID_LENGTH, ORG_ID_PATTERN
from dagster_project.settings import default_clock
from streamlit_app.lib.governance import _required_text, _write_events

ERASED = "contact.erased"
NOT_A_GOVERNOR = (
    "Only the organisation's governors and admins may ask to forget a person. Nothing was written."
)
# The Contacts page's session-state key of a request waiting for its confirmation.
FORGET_PENDING_KEY = "contacts_forget_pending"
# The reasons the Contacts page offers: a fixed list, because a typed reason could name the person and
# the erasure's own event is the one event it does not scrub.
ERASURE_REASONS = (
    "the person asked to be forgotten",
    "the data is no longer needed",
    "the data was collected in error",
)
DECISIONS = ("merged", "split")
ENTITY_TYPES = ("contact", "client")
# The payload field that names the other record, per event.
OTHER_FIELD = {
    "contact.merged": "into_contact_id",
    "contact.split": "from_contact_id",
    "client.merged": "into_client_id",
    "client.split": "from_client_id",
}


def record_id(pair_id: str) -> tuple[str, str]:
    """`contact:ct-1` → (`contact`, `ct-1`); a bare id is a contact's."""
    kind, sep, rest = pair_id.partition(":")
    return (kind, rest) if sep and kind in ("contact", "signal", "client") else ("contact", pair_id)


def build_decision(
    *,
    org_id: str,
    entity_type: str,
    entity_id: str,
    other_id: str,
    decision: str,
    actor: str,
    now: dt.datetime | None = None,
    event_id: str | None = None,
) -> dict[str, object]:
    """The contract event of one decision; ValueError when a field is missing or invalid."""
    if entity_type not in ENTITY_TYPES:
        raise ValueError(f"entity_type must be one of {', '.join(ENTITY_TYPES)}")
    if decision not in DECISIONS:
        raise ValueError(f"decision must be one of {', '.join(DECISIONS)}")
    if not re.fullmatch(ORG_ID_PATTERN, org_id or ""):
        raise ValueError(f"invalid org_id {org_id!r}")
    entity_id = _required_text("entity_id", entity_id, max_length=MAX_ID_LENGTH)
    other_id = _required_text("other_id", other_id, max_length=MAX_ID_LENGTH)
    if entity_id == other_id:
        raise ValueError("a record cannot be merged with or split from itself")
    name = f"{entity_type}.{decision}"
    assert name in EVENTS and OTHER_FIELD[name] in EVENTS[name].fields
    when = now if now is not None else default_clock().now()
    if when.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return {
        "event_id": event_id or str(uuid.uuid4()),
        "org_id": org_id,
        "occurred_at": when.astimezone(dt.UTC).isoformat(timespec="microseconds"),
        "event_name": name,
        "entity_type": entity_type,
        "entity_id": entity_id,
        "actor": _required_text("actor", actor),
        "payload": {OTHER_FIELD[name]: other_id},
    }


def write_decision(inbox: Path | str, **fields: object) -> tuple[Path, dict[str, object]]:
    """Validate and write one decision to the inbox; returns (file, event). Nothing is written on error."""
    event = build_decision(**fields)  # type: ignore[arg-type]
    return _write_events(Path(inbox), [event]), event


def build_erasure(
    *,
    org_id: str,
    contact_id: str,
    actor: str,
    reason: str | None = None,
    now: dt.datetime | None = None,
    event_id: str | None = None,
) -> dict[str, object]:
    """The `contact.erased` event forgetting one person; ValueError when a field is missing or invalid.

    `contact_id` is the person's id as the `contacts` mart shows it: a contact id, or `signal:<signal_id>`
    for a person known only from signals (the erasure forgets that signal's sender and their group)."""
    if not re.fullmatch(ORG_ID_PATTERN, org_id or ""):
        raise ValueError(f"invalid org_id {org_id!r}")
    contact_id = _required_text("contact_id", contact_id, max_length=MAX_ID_LENGTH)
    assert ERASED in EVENTS
    when = now if now is not None else default_clock().now()
    if when.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    reason = (reason or "").strip()
    return {
        "event_id": event_id or str(uuid.uuid4()),
        "org_id": org_id,
        "occurred_at": when.astimezone(dt.UTC).isoformat(timespec="microseconds"),
        "event_name": ERASED,
        "entity_type": "contact",
        "entity_id": contact_id,
        "actor": _required_text("actor", actor),
        "payload": {"reason": reason} if reason else {},
    }


def id_hash(value: str) -> str:
    """How the access audit names a person: a hash prefix of the contact id, never the id or a value
    (an id an event producer chose may be an email)."""
    return hashlib.sha256(value.encode("utf-8", "replace")).hexdigest()[:16]


def request_erasure(
    home: Path,
    inbox: Path | str,
    who: access.Principal,
    *,
    org_id: str,
    contact_id: str,
    known_contact_ids: Collection[str],
    reason: str | None = None,
    now: dt.datetime | None = None,
) -> tuple[Path, dict[str, object]]:
    """Write a governor's request to forget a person of the org; returns (file, event).

    PermissionError (audited as `access.denied`, nothing written) unless the access store says, now, that
    the user is a governor of `org_id` or an admin: the page hides the control from everyone else, but a
    request is judged here, not by what a session holds. ValueError when the person is not one of
    `known_contact_ids` (the org's people in the snapshot on screen) or a field is invalid. The request
    is audited (`governance.requested`) with ids and hashes only.
    """
    when = now if now is not None else default_clock().now()
    current = access.principal_for_email(home, who.email, via=who.via)
    if current is None or current.user_id != who.user_id or not current.can_govern(org_id):
        access.audit(
            home,
            "access.denied",
            actor=who.user_id,
            now=when,
            org_id=org_id if re.fullmatch(ORG_ID_PATTERN, org_id or "") else None,
            target=ERASED,
        )
        raise PermissionError(NOT_A_GOVERNOR)
    if contact_id not in known_contact_ids:
        raise ValueError("this person is not one of the organisation's people in this snapshot")
    event = build_erasure(org_id=org_id, contact_id=contact_id, actor=current.email, reason=reason, now=when)
    written = _write_events(Path(inbox), [event])
    access.audit(
        home,
        "governance.requested",
        actor=current.user_id,
        now=when,
        org_id=org_id,
        target=str(event["event_id"]),
        detail={"event_name": ERASED, "contact_sha256": id_hash(contact_id), "file": written.name},
    )
    return written, event
