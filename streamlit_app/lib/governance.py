"""Memory governance requests from the dashboard: one contract event per file, dropped into the inbox.

The dashboard never changes the warehouse or the snapshot. A redaction or correction becomes a
`memory.redacted` / `memory.corrected` event (contract `../shared/contract/events.md`) in a JSON Lines
file `governance-<uuid>.jsonl` in the inbox; the next pipeline run ingests it like any other event and
the following snapshot reflects it. The file is written under a `.tmp` name (which the ingest skips)
and renamed into place, so the pipeline never sees half a file.

Nothing here touches Streamlit: `write_request` is a plain function, unit-tested on its own.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import uuid
from pathlib import Path

from dagster_project.contract import MAX_ID_LENGTH, MEMORY_ENTITY_TYPES, ORG_ID_PATTERN

REDACTED = "memory.redacted"
CORRECTED = "memory.corrected"
EVENT_NAMES: tuple[str, ...] = (REDACTED, CORRECTED)
FILE_PREFIX = "governance-"
FILE_SUFFIX = ".jsonl"


def _required_text(name: str, value: str | None, *, max_length: int | None = None) -> str:
    text = (value or "").strip()
    if not text:
        raise ValueError(f"{name} is required")
    if max_length is not None and len(text) > max_length:
        raise ValueError(f"{name} is longer than {max_length} characters")
    return text


def build_event(
    *,
    event_name: str,
    org_id: str,
    entity_type: str,
    entity_id: str,
    atom_id: str,
    actor: str,
    reason: str,
    content: str | None = None,
    now: dt.datetime | None = None,
    event_id: str | None = None,
) -> dict[str, object]:
    """The contract event for one request; raises ValueError when a field is missing or invalid.

    Texts are stripped. `occurred_at` is `now` (default: the current time) in UTC, RFC 3339 with
    offset; `event_id` defaults to a fresh uuid4.
    """
    if event_name not in EVENT_NAMES:
        raise ValueError(f"event_name must be one of {', '.join(EVENT_NAMES)}")
    if not re.fullmatch(ORG_ID_PATTERN, org_id or ""):
        raise ValueError(f"invalid org_id {org_id!r}")
    if entity_type not in MEMORY_ENTITY_TYPES:
        raise ValueError(f"entity_type must be one of {', '.join(MEMORY_ENTITY_TYPES)}")
    entity_id = _required_text("entity_id", entity_id, max_length=MAX_ID_LENGTH)
    payload: dict[str, object] = {"atom_id": _required_text("atom_id", atom_id)}
    if event_name == CORRECTED:
        payload["content"] = _required_text("content", content)
    payload["reason"] = _required_text("reason", reason)
    actor = _required_text("actor", actor)
    when = now if now is not None else dt.datetime.now(dt.UTC)
    if when.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return {
        "event_id": event_id or str(uuid.uuid4()),
        "org_id": org_id,
        "occurred_at": when.astimezone(dt.UTC).isoformat(timespec="microseconds"),
        "event_name": event_name,
        "entity_type": entity_type,
        "entity_id": entity_id,
        "actor": actor,
        "payload": payload,
    }


def write_request(
    inbox: Path | str,
    *,
    event_name: str,
    org_id: str,
    entity_type: str,
    entity_id: str,
    atom_id: str,
    actor: str,
    reason: str,
    content: str | None = None,
    now: dt.datetime | None = None,
) -> Path:
    """Write one governance event as `<inbox>/governance-<event_id>.jsonl` and return its path.

    The event is validated first (ValueError, and no file, when e.g. the reason is empty); the inbox is
    created if missing. The line is written to a `.tmp` sibling, flushed to disk and renamed.
    """
    event = build_event(
        event_name=event_name,
        org_id=org_id,
        entity_type=entity_type,
        entity_id=entity_id,
        atom_id=atom_id,
        actor=actor,
        reason=reason,
        content=content,
        now=now,
    )
    folder = Path(inbox)
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / f"{FILE_PREFIX}{event['event_id']}{FILE_SUFFIX}"
    tmp = final.with_name(final.name + ".tmp")
    line = json.dumps(event, ensure_ascii=False, sort_keys=True) + "\n"
    try:
        with tmp.open("w", encoding="utf-8") as out:
            out.write(line)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return final


def write_requests(
    inbox: Path | str,
    *,
    event_name: str,
    org_id: str,
    entity_type: str,
    entity_id: str,
    atom_ids: list[str] | tuple[str, ...],
    actor: str,
    reason: str,
    content: str | None = None,
    now: dt.datetime | None = None,
) -> Path:
    """One request for several atoms of one entity (e.g. every atom holding the same text): one event
    per atom id, all in one file, so the pipeline ingests them together or not at all.

    Every event is validated before anything is written (ValueError, and no file, if one is invalid or
    no atom id is given); repeated ids count once. Returns the file's path,
    `<inbox>/governance-<first event_id>.jsonl`.
    """
    ids = list(dict.fromkeys(a.strip() for a in atom_ids if a and a.strip()))
    if not ids:
        raise ValueError("atom_id is required")
    events = [
        build_event(
            event_name=event_name,
            org_id=org_id,
            entity_type=entity_type,
            entity_id=entity_id,
            atom_id=atom_id,
            actor=actor,
            reason=reason,
            content=content,
            now=now,
        )
        for atom_id in ids
    ]
    folder = Path(inbox)
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / f"{FILE_PREFIX}{events[0]['event_id']}{FILE_SUFFIX}"
    tmp = final.with_name(final.name + ".tmp")
    lines = "".join(json.dumps(e, ensure_ascii=False, sort_keys=True) + "\n" for e in events)
    try:
        with tmp.open("w", encoding="utf-8") as out:
            out.write(lines)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return final
