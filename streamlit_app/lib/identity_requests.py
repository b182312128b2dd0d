"""Identity decisions from the dashboard: a governor's merge or split, one contract event in the inbox.

Like memory governance (`lib/governance.py`), the dashboard never changes the warehouse: a decision
becomes a `contact.merged` / `contact.split` / `client.merged` / `client.split` event (docs/contract.md)
in `governance-<event_id>.jsonl` (the governance writer's file), written under a `.tmp` name and renamed, and the next run applies it.
Nothing here touches Streamlit.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from pathlib import Path

from dagster_project.contract.events import EVENTS, MAX_ID_LENGTH, ORG_ID_PATTERN
from dagster_project.settings import default_clock
from streamlit_app.lib.governance import _required_text, _write_events

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
