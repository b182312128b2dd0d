"""Memory governance requests from the dashboard: contract events in one file, dropped into the inbox.

The dashboard never changes the warehouse or the snapshot. A redaction or correction becomes a
`memory.redacted` / `memory.corrected` event (the contract: `docs/contract.md`) in a JSON Lines
file `governance-<uuid>.jsonl` in the inbox; the next pipeline run ingests it like any other event and
the following snapshot reflects it. The file is written under a `.tmp` name (which the ingest skips)
and renamed into place, so the pipeline never sees half a file.

A request may name several atoms (the same text kept in several atoms of an entity): the contract's
events name one atom each, so such a request is one event per atom, each audited on its own, all in one
file so that they arrive together or not at all.

Nothing here touches Streamlit: `write_request` is a plain function, unit-tested on its own.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from dagster_project.contract.events import MAX_ID_LENGTH, MEMORY_ENTITY_TYPES, ORG_ID_PATTERN
from dagster_project.settings import default_clock

REDACTED = "memory.redacted"
CORRECTED = "memory.corrected"
EVENT_NAMES: tuple[str, ...] = (REDACTED, CORRECTED)
FILE_PREFIX = "governance-"
FILE_SUFFIX = ".jsonl"
# How much of an atom's content a confirmation quotes: enough to recognise it, short enough to read.
FIRST_WORDS = 8
VERBS = {REDACTED: "Redact", CORRECTED: "Correct"}


@dataclass(frozen=True)
class AtomRef:
    """One live atom as the page showed it: what a request acts on and what its confirmation names."""

    entity_type: str
    entity_id: str
    atom_id: str
    atom_type: str
    content: str
    version: int | None = None


def scope_key(org_id: str, entity_type: str, entity_id: str) -> str:
    """A short stable token for the record on screen, so widgets keyed by it start fresh on another one."""
    return hashlib.sha256(f"{org_id}\x1f{entity_type}\x1f{entity_id}".encode()).hexdigest()[:16]


def first_words(text: str | None, words: int = FIRST_WORDS) -> str:
    """The first `words` words of a text on one line, with an ellipsis when there is more."""
    parts = str(text or "").split()
    return " ".join(parts[:words]) + (" …" if len(parts) > words else "")


def normalised_text(text: str | None) -> str:
    """Text compared for "the same text": whitespace runs collapsed, trimmed, case ignored."""
    return " ".join(str(text or "").split()).casefold()


def confirmation_lines(event_name: str, atoms: Sequence[AtomRef]) -> list[str]:
    """One plain sentence per atom a request acts on: action, entity, atom type, atom id, first words."""
    if event_name not in EVENT_NAMES:
        raise ValueError(f"event_name must be one of {', '.join(EVENT_NAMES)}")
    return [
        f"{VERBS[event_name]} the {a.atom_type} atom {a.atom_id} of {a.entity_type} {a.entity_id}: "
        f"\u201c{first_words(a.content)}\u201d"
        for a in atoms
    ]


def _required_text(name: str, value: str | None, *, max_length: int | None = None) -> str:
    text = (value or "").strip()
    if not text:
        raise ValueError(f"{name} is required")
    if max_length is not None and len(text) > max_length:
        raise ValueError(f"{name} is longer than {max_length} characters")
    return text


def request_time() -> dt.datetime:
    """When a request is made: the pipeline's clock (`WORKSTREAM_NOW` when frozen), not the wall clock,
    so the ingest, which refuses events later than its clock, never finds a request in the future."""
    return default_clock().now()


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
    when = now if now is not None else request_time()
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
    return _write_events(Path(inbox), [event])


def write_requests(
    inbox: Path | str,
    *,
    event_name: str,
    org_id: str,
    atoms: Sequence[AtomRef],
    actor: str,
    reason: str,
    content: str | None = None,
    now: dt.datetime | None = None,
) -> tuple[Path, list[dict[str, object]]]:
    """One request over several atoms: one event per atom (each its own audit entry), all in one file.

    Every event is validated before anything is written (ValueError, and no file, if one is invalid or
    no atom is named; an atom named twice counts once). Returns the file and its events, in `atoms` order.
    """
    unique = list({a.atom_id: a for a in atoms}.values())
    if not unique:
        raise ValueError("name at least one atom")
    when = now if now is not None else default_clock().now()
    events = [
        build_event(
            event_name=event_name,
            org_id=org_id,
            entity_type=a.entity_type,
            entity_id=a.entity_id,
            atom_id=a.atom_id,
            actor=actor,
            reason=reason,
            content=content,
            now=when,
        )
        for a in unique
    ]
    return _write_events(Path(inbox), events), events


def _write_events(folder: Path, events: list[dict[str, object]]) -> Path:
    """Write the events, one JSON line each, to `governance-<first event_id>.jsonl` via a `.tmp` sibling."""
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / f"{FILE_PREFIX}{events[0]['event_id']}{FILE_SUFFIX}"
    tmp = final.with_name(final.name + ".tmp")
    text = "".join(json.dumps(event, ensure_ascii=False, sort_keys=True) + "\n" for event in events)
    try:
        with tmp.open("w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return final
