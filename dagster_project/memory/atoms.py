"""What a memory atom is: its events, ids, columns and content hash, and how capture reads a payload.

The vocabulary memory/capture.py builds atoms with and memory/governance.py scrubs them by (pure; no
I/O, no clock).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

Event = Mapping[str, Any]
Row = dict[str, Any]

NOTE_EVENTS = ("signal.note_added", "candidate.note_added", "pursuit.note_added", "client.note_added")
RECORDED, CORRECTED, REDACTED = "memory.recorded", "memory.corrected", "memory.redacted"
# What a correction's scrub (memory/governance.py) leaves in place of the old text in the event log.
CORRECTED_MARKER = "[corrected: {audit_id}]"
# Payload key a scrub adds: atom id → the hash of the content the event gave that atom before its text
# was erased, so the audit trail and the redaction tombstones keep the real hashes after a re-fold.
ERASED_HASHES = "erased_hashes"

# Automatic atom rules: `<event_id>:<rule>` → (atom_type, what it records).
AUTO_RULES: dict[str, tuple[str, str]] = {
    "created": ("status", "a signal, candidate or client came to exist"),
    "touched": ("status", "a signal's first touch"),
    "linked": ("status", "a signal linked to a candidate (`linked:<signal_id>`)"),
    "dismissed": ("status", "a signal dismissed, with the reason"),
    "status_changed": ("status", "a candidate status change, with the reason"),
    "promoted": ("status", "a candidate promoted to a pursuit"),
    "pursuit_created": ("status", "the pursuit a promotion created"),
    "stage_changed": ("status", "a pursuit stage change other than won/lost"),
    "won": ("decision", "a pursuit won, with reason and reason code"),
    "lost": ("decision", "a pursuit lost, with reason and reason code"),
    "proposal_sent": ("status", "a proposal sent"),
    "updated": ("status", "a client's details changed after its creation"),
    "gate_pink_incomplete": ("risk", "a stage change blocked (or warned) by the pink gate"),
    "gate_red_incomplete": ("risk", "a stage change blocked (or warned) by the red gate"),
    "gate_no_sent_proposal": ("risk", "a win blocked (or warned) for want of a sent proposal"),
}

ATOM_COLUMNS = (
    "org_id",
    "atom_id",
    "entity_type",
    "entity_id",
    "client_id",
    "atom_type",
    "content",
    "source",  # system | note | explicit
    "source_system",
    "source_url",
    "trust_weight",
    "tags",
    "rule",  # the capture rule (AUTO_RULES key, `note` or `recorded`)
    "classified_by",  # a note's matched classifier rule, else None
    "actor",
    "occurred_at",
    "expires_at",
    "expires_explicit",  # an explicit `expires_at` (else retention from occurred_at, config in force at as-of)
    "content_hash",
    "version",
    "event_id",
    "corrected_at",
    "last_audit_id",  # the audit row of the latest correction
)
AUDIT_COLUMNS = (
    "org_id",
    "audit_id",  # the governance event's event_id
    "action",  # correct | redact
    "atom_id",
    "entity_type",
    "entity_id",
    "actor",  # who
    "occurred_at",  # when
    "reason",  # why
    "content_hash",  # redact: the content's hash when redacted (None if never seen)
    "old_content_hash",  # correct: before
    "new_content_hash",  # correct: after
    "version",  # correct: the version it produced
)


def normalize(content: str) -> str:
    """Content as compared for dedup: trimmed, inner whitespace collapsed, lower case."""
    return " ".join(str(content).split()).lower()


def content_hash(content: str) -> str:
    """sha256 (hex) of the normalized content."""
    return hashlib.sha256(normalize(content).encode("utf-8")).hexdigest()


@dataclass
class MemoryResult:
    """Atoms (not redacted; live and expired) and governance rows of one org as of `as_of`."""

    as_of: datetime | None = None
    atoms: list[Row] = field(default_factory=list)  # sorted by (occurred_at, atom_id)
    audit: list[Row] = field(default_factory=list)  # event-time order
    duplicates: list[Row] = field(default_factory=list)  # {atom_id, duplicate_of, reason}
    rejected: list[Row] = field(default_factory=list)  # governance events that matched no atom
    tombstones: list[Row] = field(default_factory=list)  # {atom_id, entity_type, entity_id, content_hashes}

    @property
    def live_atoms(self) -> list[Row]:
        """Atoms not expired at `as_of` (the `memory_atoms` rows)."""
        return [a for a in self.atoms if not _expired(a, self.as_of)]

    @property
    def expired_atoms(self) -> list[Row]:
        """Atoms whose `expires_at` <= `as_of`: not live, for the purge job."""
        return [a for a in self.atoms if _expired(a, self.as_of)]


def _expired(atom: Row, as_of: datetime | None) -> bool:
    return as_of is not None and atom["expires_at"] is not None and atom["expires_at"] <= as_of


def payload_of(event: Event) -> Mapping[str, Any]:
    payload = event.get("payload")
    return payload if isinstance(payload, Mapping) else {}


def clean_text(value: Any) -> str | None:
    if value is None:
        return None
    text = " ".join(str(value).split())
    return text or None


def explicit_time(value: Any) -> datetime | None:
    """An explicit `expires_at` (RFC 3339 with offset, or a datetime); anything else is ignored."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        try:
            # RFC 3339 allows a lowercase `t` and `z` (the validator accepts them); fromisoformat does not
            parsed = datetime.fromisoformat(value.strip().upper().replace("Z", "+00:00"))
        except ValueError:
            return None
    else:
        return None
    return None if parsed.tzinfo is None else parsed.astimezone(UTC)


def source_trust(source: Any) -> float:
    weight = source.get("trust_weight") if isinstance(source, Mapping) else None
    if isinstance(weight, int | float) and not isinstance(weight, bool) and 0 <= weight <= 1:
        return float(weight)
    return 1.0


def erased_hash(event: Event, atom_id: str) -> str | None:
    """The hash of the content this event gave `atom_id` before a scrub erased its text, if it did."""
    payload = event.get("payload")
    if type(payload) is dict and ERASED_HASHES not in payload:
        return None  # asked of every atom: skip the Mapping checks when nothing was erased
    kept = payload_of(event).get(ERASED_HASHES)
    digest = kept.get(atom_id) if isinstance(kept, Mapping) else None
    return digest if isinstance(digest, str) else None


def explicit_atom_id(event: Event) -> str:
    atom_id = payload_of(event).get("atom_id")
    return atom_id if isinstance(atom_id, str) and atom_id.strip() else event["event_id"]
