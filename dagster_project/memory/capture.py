"""Memory atoms for one org, captured from its events and its lifecycle fold (pure; no I/O, no clock).

Nobody has to write a note: every lifecycle action the fold applied becomes an atom (entity creation,
status and stage changes, promotion, proposals sent, won/lost with their reason, failed gate attempts),
`*.note_added` texts become atoms typed by the rule-based classifier, and `memory.recorded` events are
explicit atoms. Governance is applied here too: `memory.corrected` replaces an atom's content (same
id, version + 1, audit row) and `memory.redacted` removes it (tombstone, audit row).

Ids (contract "Memory defaults"): a note's or an explicit atom's `atom_id` is its event's `event_id`
(an explicit `payload.atom_id` wins for `memory.recorded`); an automatic atom's is
`<event_id>:<rule>`, rules below (`AUTO_RULES`), with `:<signal_id>` after `linked` because one
event may link several signals.

Choices where the contract is silent:
- Everything is judged as of `as_of`: events after it are left out — except redactions, which apply at
  every as-of and to events that arrive later (erased is erased). A redaction is a tombstone for the
  atom id and for every content hash that atom ever had (original and corrections, also those after
  `as_of`) on its entity, so the same text cannot come back through a duplicate, a re-sent event or a
  correction of another atom. `tombstones=` takes tombstones kept from earlier runs (after the event
  log was scrubbed).
- Dedup: the same normalized content (trimmed, whitespace collapsed, lower case) on the same entity is
  one atom, the earliest in event order, whatever the types; the later ones are listed in `duplicates`
  (ids only). An explicit `atom_id` already taken is a duplicate too.
- Corrections apply in event order, after capture, to atoms that exist as of `as_of` — including
  corrections after `as_of` (extension of the contract: a correction applies at every as-of, since the
  old text is scrubbed from the log). A correction up to `as_of` for an unknown or not-yet-existing atom
  is listed in `rejected` with rule `unknown_atom`; one after `as_of` is not judged. The type, source
  and expiry stay; notes are not re-classified (a note whose text a correction scrubbed carries its
  type in its payload).
- Notes are classified with `memory.note_rules` in force at `as_of`; retention too (expiry =
  `occurred_at` + `memory.retention_days.<type>`, an explicit `expires_at` wins).
- Promotion is a `status` atom on the candidate plus the pursuit's creation atom (spec §5.6 REC);
  `won` and `lost` are `decision` atoms carrying the reason and reason code. A gate break is a `risk`
  atom on the pursuit, rejected or warned. Signals: created (with snippet and company), first touch,
  link, dismissal. Clients: the first `client.updated` is the creation, later ones list the fields.
- Client roll-up (`client_id`) uses state at `as_of`: a candidate's or pursuit's client, a signal's via
  its first linked candidate, a client its own id; None when unknown.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from dagster_project.config.registry import ConfigRegistry
from dagster_project.contract.events import ATOM_TYPES
from dagster_project.contract.states import Outcome
from dagster_project.lifecycle.fold import FoldResult, event_order
from dagster_project.memory.classify import classify

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


def capture_atoms(
    events: Iterable[Event],
    fold_result: FoldResult,
    registry: ConfigRegistry,
    as_of: datetime,
    *,
    tombstones: Iterable[Mapping[str, Any]] = (),
) -> MemoryResult:
    """Memory atoms of ONE org's accepted events (any order) as of `as_of`.

    `fold_result` is the lifecycle fold of the same events as of `as_of` (its transitions, rejections,
    outcomes and entity rows are read, never changed). `tombstones`: earlier redactions, each
    `{atom_id, content_hashes?, entity_type?, entity_id?}` (no entity: the hashes apply org-wide).
    Raises ValueError for several orgs or a naive timestamp.
    """
    if as_of.tzinfo is None:
        raise ValueError("as_of must be timezone-aware")
    as_of = as_of.astimezone(UTC)
    ordered = _prepare(events)
    result = MemoryResult(as_of=as_of)
    if not ordered:
        return result
    capture = _Capture(ordered[0]["org_id"], fold_result, registry, as_of)
    for event in ordered:
        if event["occurred_at"] <= as_of:
            capture.event(event)
    for event in ordered:
        # A correction applies at every as-of, like a redaction: its old text is scrubbed from the log.
        if event["event_name"] == CORRECTED:
            capture.correct(event)
    capture.redact_all([e for e in ordered if e["event_name"] == REDACTED], ordered, tombstones)
    return capture.result(result)


def _prepare(events: Iterable[Event]) -> list[Event]:
    prepared: list[Event] = []
    for event in events:
        at = event["occurred_at"]
        if at.tzinfo is None:
            raise ValueError(f"event {event['event_id']!r}: occurred_at must be timezone-aware")
        if at.tzinfo is not UTC:
            event = {**event, "occurred_at": at.astimezone(UTC)}
        prepared.append(event)
    orgs = {e["org_id"] for e in prepared}
    if len(orgs) > 1:
        raise ValueError(f"capture_atoms() takes one org's events, got {len(orgs)} orgs")
    prepared.sort(key=event_order)
    return prepared


def _payload(event: Event) -> Mapping[str, Any]:
    payload = event.get("payload")
    return payload if isinstance(payload, Mapping) else {}


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = " ".join(str(value).split())
    return text or None


def _timestamp(value: Any) -> datetime | None:
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


def _trust(source: Any) -> float:
    weight = source.get("trust_weight") if isinstance(source, Mapping) else None
    if isinstance(weight, int | float) and not isinstance(weight, bool) and 0 <= weight <= 1:
        return float(weight)
    return 1.0


def _erased_hash(event: Event, atom_id: str) -> str | None:
    """The hash of the content this event gave `atom_id` before a scrub erased its text, if it did."""
    kept = _payload(event).get(ERASED_HASHES)
    digest = kept.get(atom_id) if isinstance(kept, Mapping) else None
    return digest if isinstance(digest, str) else None


def _explicit_atom_id(event: Event) -> str:
    atom_id = _payload(event).get("atom_id")
    return atom_id if isinstance(atom_id, str) and atom_id.strip() else event["event_id"]


class _Capture:
    def __init__(self, org_id: str, fold: FoldResult, registry: ConfigRegistry, as_of: datetime) -> None:
        self.org_id, self.registry, self.as_of = org_id, registry, as_of
        self.signals = {r["signal_id"]: r for r in fold.signals}
        self.candidates = {r["candidate_id"]: r for r in fold.candidates}
        self.pursuits = {r["pursuit_id"]: r for r in fold.pursuits}
        self.transitions: dict[str, list[Row]] = {}
        for row in fold.transitions:
            self.transitions.setdefault(row["event_id"], []).append(row)
        self.gates: dict[str, list[Row]] = {}
        for row in fold.rejected_events:
            if str(row["rule"]).startswith("gate:"):
                self.gates.setdefault(row["event_id"], []).append(row)
        self.outcomes = fold.outcomes
        self.rules = registry.value(org_id, "memory.note_rules", as_of)
        self.atoms: dict[str, Row] = {}  # atom_id -> atom, insertion = event order
        self.by_content: dict[tuple[str, str, str], str] = {}  # (entity_type, entity_id, hash) -> atom_id
        # atom_id -> (entity_type, entity_id, [(occurred_at, hash)]) for every content it ever had
        self.history: dict[str, tuple[str, str, list[tuple[datetime, str]]]] = {}
        self.clients_seen: set[str] = set()
        self.duplicates: list[Row] = []
        self.rejected: list[Row] = []
        self.audit: list[Row] = []
        self.tombstones: list[Row] = []

    # --- capture -------------------------------------------------------------------------------------

    def event(self, event: Event) -> None:
        name = event["event_name"]
        if name in NOTE_EVENTS:
            self._note(event)
        elif name == RECORDED:
            self._recorded(event)
        elif name == "client.updated":
            self._client_updated(event)
        elif (
            name == "pursuit.proposal_sent"
            and self.outcomes.get((self.org_id, event["event_id"])) == Outcome.APPLIED
        ):
            self._proposal_sent(event)
        for transition in self.transitions.get(event["event_id"], ()):
            self._transition(event, transition)
        for gate in self.gates.get(event["event_id"], ()):
            self._gate(event, gate)

    def _add(
        self,
        event: Event,
        atom_id: str,
        entity_type: str,
        entity_id: str,
        atom_type: str,
        content: str,
        *,
        source: str,
        rule: str,
        tags: list[str] | None = None,
        trust_weight: float = 1.0,
        expires_at: datetime | None = None,
        classified_by: str | None = None,
        source_system: str | None = None,
        source_url: str | None = None,
    ) -> None:
        digest = _erased_hash(event, atom_id) or content_hash(content)
        history = self.history.setdefault(atom_id, (entity_type, entity_id, []))
        history[2].append((event["occurred_at"], digest))
        if atom_id in self.atoms:
            self.duplicates.append({"atom_id": atom_id, "duplicate_of": atom_id, "reason": "atom_id_taken"})
            return
        key = (entity_type, entity_id, digest)
        if key in self.by_content:
            self.duplicates.append(
                {"atom_id": atom_id, "duplicate_of": self.by_content[key], "reason": "same_content"}
            )
            return
        self.by_content[key] = atom_id
        explicit = expires_at is not None
        if expires_at is None:
            days = self.registry.value(self.org_id, f"memory.retention_days.{atom_type}", self.as_of)
            try:
                expires_at = event["occurred_at"] + timedelta(days=days)
            except OverflowError:  # a late event plus a long retention runs past the calendar: keep it
                expires_at = datetime.max.replace(tzinfo=UTC)
        self.atoms[atom_id] = {
            "org_id": self.org_id,
            "atom_id": atom_id,
            "entity_type": entity_type,
            "entity_id": entity_id,
            "client_id": None,  # rolled up at the end, from state at as_of
            "atom_type": atom_type,
            "content": content,
            "source": source,
            "source_system": source_system,
            "source_url": source_url,
            "trust_weight": trust_weight,
            "tags": list(tags or ()),
            "rule": rule,
            "classified_by": classified_by,
            "actor": event.get("actor"),
            "occurred_at": event["occurred_at"],
            "expires_at": expires_at,
            "expires_explicit": explicit,
            "content_hash": digest,
            "version": 1,
            "event_id": event["event_id"],
            "corrected_at": None,
            "last_audit_id": None,
        }

    def _auto(
        self, event: Event, rule: str, entity_type: str, entity_id: str, content: str, tags: list[str]
    ) -> None:
        atom_type = AUTO_RULES[rule.split(":", 1)[0]][0]
        self._add(
            event,
            f"{event['event_id']}:{rule}",
            entity_type,
            entity_id,
            atom_type,
            content,
            source="system",
            rule=rule.split(":", 1)[0],
            tags=tags,
        )

    def _note(self, event: Event) -> None:
        payload = _payload(event)
        text = _text(payload.get("text"))
        if text is None:
            return
        kept = payload.get("atom_type")
        if text.startswith("[corrected: ") and kept in ATOM_TYPES:
            # A correction scrubbed the text it was classified from; the scrub kept its type.
            matched = payload.get("classified_by")
            atom_type, matched = kept, matched if isinstance(matched, str) else None
        else:
            atom_type, matched = classify(text, self.rules)
        self._add(
            event,
            event["event_id"],
            event["entity_type"],
            event["entity_id"],
            atom_type,
            text,
            source="note",
            rule="note",
            tags=["note"],
            classified_by=matched,
        )

    def _recorded(self, event: Event) -> None:
        payload = _payload(event)
        content = _text(payload.get("content"))
        if content is None:
            return
        atom_type = payload.get("atom_type")
        if atom_type not in ATOM_TYPES:
            self.rejected.append(
                {
                    "event_id": event["event_id"],
                    "atom_id": _explicit_atom_id(event),
                    "rule": "invalid_atom_type",
                    "detail": f"atom_type must be one of {', '.join(ATOM_TYPES)}",
                }
            )
            return
        source = payload.get("source") if isinstance(payload.get("source"), Mapping) else {}
        tags = payload.get("tags")
        self._add(
            event,
            _explicit_atom_id(event),
            event["entity_type"],
            event["entity_id"],
            atom_type,
            content,
            source="explicit",
            rule="recorded",
            tags=[str(t) for t in tags] if isinstance(tags, list) else [],
            trust_weight=_trust(source),
            expires_at=_timestamp(payload.get("expires_at")),
            source_system=_text(source.get("system")),
            source_url=_text(source.get("url")),
        )

    def _client_updated(self, event: Event) -> None:
        payload, client_id = _payload(event), event["entity_id"]
        fields = [(k, _text(payload.get(k))) for k in ("name", "domain", "industry")]
        fields = [(k, v) for k, v in fields if v is not None]
        if client_id not in self.clients_seen:
            self.clients_seen.add(client_id)
            name = dict(fields).get("name") or client_id
            extra = [f"{k} {v}" for k, v in fields if k != "name"]
            content = f"Client profile created: {name}" + (f" ({', '.join(extra)})" if extra else "")
            self._auto(event, "created", "client", client_id, content, ["creation"])
        elif fields:
            content = "Client details updated: " + ", ".join(f"{k} {v}" for k, v in fields)
            self._auto(event, "updated", "client", client_id, content, ["update"])

    def _proposal_sent(self, event: Event) -> None:
        payload = _payload(event)
        version = payload.get("version")
        label = f"{payload.get('proposal_id')}" + (f" v{version}" if version is not None else "")
        content = f"Proposal {label} sent to client"
        self._auto(event, "proposal_sent", "pursuit", event["entity_id"], content, ["proposal", "submission"])

    def _transition(self, event: Event, t: Row) -> None:
        kind, entity_id, before, after = t["entity_type"], t["entity_id"], t["from_state"], t["to_state"]
        payload = _payload(event)
        reason = _text(payload.get("reason"))
        warned = " (applied despite a failed rule: gate_mode warn)" if t.get("warned") else ""
        if kind == "signal":
            self._signal_transition(event, entity_id, before, after, payload)
        elif kind == "candidate" and before is None:
            title = _text(payload.get("title")) or "New Candidate"
            self._auto(event, "created", "candidate", entity_id, f"Candidate profile created for {title}", [])
        elif kind == "candidate" and after == "promoted":
            content = (
                f"Candidate status changed from {before} to promoted (pursuit {payload.get('pursuit_id')})"
            )
            self._auto(
                event, "promoted", "candidate", entity_id, content + warned, ["status_change", "promotion"]
            )
        elif kind == "candidate":
            content = f"Candidate status changed from {before} to {after}" + (
                f" - {reason}" if reason else ""
            )
            self._auto(
                event,
                "status_changed",
                "candidate",
                entity_id,
                content + warned,
                ["status_change", before, after],
            )
        elif kind == "pursuit" and before is None:
            content = f"Pursuit created for candidate {event['entity_id']} in {after} stage"
            self._auto(event, "pursuit_created", "pursuit", entity_id, content, ["creation"])
        elif kind == "pursuit" and after in ("won", "lost"):
            code = _text(payload.get("reason_code"))
            detail = " - " + (reason or "no reason provided") + (f" (reason code: {code})" if code else "")
            content = f"Pursuit {after}{detail}" + warned
            self._auto(
                event, after, "pursuit", entity_id, content, ["outcome", after] + ([code] if code else [])
            )
        elif kind == "pursuit":
            content = f"Pursuit stage changed from {before} to {after}" + (f" - {reason}" if reason else "")
            self._auto(
                event,
                "stage_changed",
                "pursuit",
                entity_id,
                content + warned,
                ["stage_change", before, after],
            )

    def _signal_transition(
        self, event: Event, signal_id: str, before: str | None, after: str, payload: Mapping[str, Any]
    ) -> None:
        name = event["event_name"]
        if name == "signal.created":
            source = _text(payload.get("source_type")) or "unknown source"
            company = _text(payload.get("company_name")) or _text(payload.get("company_domain"))
            snippet = _text(payload.get("snippet"))
            content = f"Signal received via {source}" + (f" from {company}" if company else "")
            self._auto(
                event,
                "created",
                "signal",
                signal_id,
                content + (f": {snippet}" if snippet else ""),
                ["creation", source],
            )
        elif after == "linked":
            candidate = event["entity_id"]
            title = _text((self.candidates.get(candidate) or {}).get("title"))
            content = f"Signal linked to candidate {candidate}" + (f" ({title})" if title else "")
            self._auto(event, f"linked:{signal_id}", "signal", signal_id, content, ["link"])
        elif after == "touched":
            channel = _text(payload.get("channel"))
            content = "Signal first touched" + (f" via {channel}" if channel else "")
            self._auto(event, "touched", "signal", signal_id, content, ["touch"])
        elif after == "dismissed":
            reason = _text(payload.get("reason"))
            content = "Signal dismissed" + (f" - {reason}" if reason else "")
            self._auto(event, "dismissed", "signal", signal_id, content, ["dismissal"])

    def _gate(self, event: Event, row: Row) -> None:
        target = _payload(event).get("to")
        if row["outcome"] == Outcome.WARNED:
            content = f"Moved to {target} despite a failed gate (gate_mode warn): {row['detail']}"
        else:
            content = f"Move to {target} blocked: {row['detail']}"
        rule = str(row["rule"]).replace(":", "_")
        self._auto(event, rule, row["entity_type"], row["entity_id"], content, ["gate", str(row["outcome"])])

    # --- governance ----------------------------------------------------------------------------------

    def correct(self, event: Event) -> None:
        payload = _payload(event)
        atom_id, content = payload.get("atom_id"), _text(payload.get("content"))
        atom = self.atoms.get(atom_id) if isinstance(atom_id, str) else None
        if atom is None and event["occurred_at"] > self.as_of:
            return  # not judged at this as-of: its atom may arrive by the time it is
        if atom is None or content is None:
            why = "no such atom as of this time" if atom is None else "empty content"
            self.rejected.append(
                {"event_id": event["event_id"], "atom_id": atom_id, "rule": "unknown_atom", "detail": why}
            )
            return
        old, new = atom["content_hash"], _erased_hash(event, atom_id) or content_hash(content)
        self.history[atom_id][2].append((event["occurred_at"], new))
        atom.update(
            content=content,
            content_hash=new,
            version=atom["version"] + 1,
            corrected_at=event["occurred_at"],
            last_audit_id=event["event_id"],
        )
        self.audit.append(
            self._audit_row(
                event, "correct", atom, old_content_hash=old, new_content_hash=new, version=atom["version"]
            )
        )

    def redact_all(
        self, redactions: list[Event], ordered: list[Event], kept: Iterable[Mapping[str, Any]]
    ) -> None:
        """Tombstone every redacted atom (at every as-of) and drop what matches a tombstone."""
        # Contents the redacted atoms have outside this as-of view (events after as_of) count too.
        redacted_ids = {_payload(r).get("atom_id") for r in redactions}
        for event in ordered:
            if event["occurred_at"] <= self.as_of:
                continue  # captured (or corrected) above: already in self.history
            payload, name = _payload(event), event["event_name"]
            atom_id, text = None, None
            if name in NOTE_EVENTS:
                atom_id, text = event["event_id"], payload.get("text")
            elif name == RECORDED:
                atom_id, text = _explicit_atom_id(event), payload.get("content")
            elif name == CORRECTED:
                atom_id, text = payload.get("atom_id"), payload.get("content")
            if atom_id in redacted_ids and _text(text) is not None:
                entry = self.history.setdefault(atom_id, (event["entity_type"], event["entity_id"], []))
                entry[2].append((event["occurred_at"], _erased_hash(event, atom_id) or content_hash(text)))
        blocked: set[tuple[str | None, str | None, str]] = set()
        dead: set[str] = set()
        for redaction in redactions:
            atom_id = _payload(redaction).get("atom_id")
            if not isinstance(atom_id, str):
                continue
            dead.add(atom_id)
            entity_type, entity_id, versions = self.history.get(
                atom_id, (redaction["entity_type"], redaction["entity_id"], [])
            )
            hashes = sorted({h for _, h in versions})
            blocked.update((entity_type, entity_id, h) for h in hashes)
            when = redaction["occurred_at"]
            at_redaction = [h for at, h in versions if at <= when] or [h for _, h in versions]
            atom = {"atom_id": atom_id, "entity_type": entity_type, "entity_id": entity_id}
            self.audit.append(
                self._audit_row(
                    redaction, "redact", atom, content_hash=at_redaction[-1] if at_redaction else None
                )
            )
            self.tombstones.append({**atom, "content_hashes": hashes, "event_id": redaction["event_id"]})
        for stone in kept:
            atom_id = stone.get("atom_id")
            if isinstance(atom_id, str):
                dead.add(atom_id)
            for digest in stone.get("content_hashes") or ():
                blocked.add((stone.get("entity_type"), stone.get("entity_id"), digest))
        for atom_id in list(self.atoms):
            atom = self.atoms[atom_id]
            keys = {
                (atom["entity_type"], atom["entity_id"], h)
                for h in {atom["content_hash"], *(h for _, h in self.history[atom_id][2])}
            }
            org_wide = {(None, None, h) for _, _, h in keys}
            if atom_id in dead or keys & blocked or org_wide & blocked:
                del self.atoms[atom_id]
        self.audit.sort(key=lambda r: (r["occurred_at"], r["audit_id"]))

    def _audit_row(self, event: Event, action: str, atom: Mapping[str, Any], **hashes: Any) -> Row:
        row = {
            "org_id": self.org_id,
            "audit_id": event["event_id"],
            "action": action,
            "atom_id": atom["atom_id"],
            "entity_type": atom["entity_type"],
            "entity_id": atom["entity_id"],
            "actor": event.get("actor"),
            "occurred_at": event["occurred_at"],
            "reason": _text(_payload(event).get("reason")),
            "content_hash": None,
            "old_content_hash": None,
            "new_content_hash": None,
            "version": None,
        }
        row.update(hashes)
        return row

    # --- output --------------------------------------------------------------------------------------

    def _client_of(self, entity_type: str, entity_id: str) -> str | None:
        if entity_type == "client":
            return entity_id
        if entity_type == "candidate":
            return (self.candidates.get(entity_id) or {}).get("client_id")
        if entity_type == "pursuit":
            return (self.pursuits.get(entity_id) or {}).get("client_id")
        if entity_type == "signal":
            candidate = (self.signals.get(entity_id) or {}).get("linked_candidate_id")
            return self._client_of("candidate", candidate) if candidate else None
        return None

    def result(self, result: MemoryResult) -> MemoryResult:
        atoms = list(self.atoms.values())
        for atom in atoms:
            atom["client_id"] = self._client_of(atom["entity_type"], atom["entity_id"])
        result.atoms = sorted(atoms, key=lambda a: (a["occurred_at"], a["atom_id"]))
        result.audit = self.audit
        result.duplicates = self.duplicates
        result.rejected = self.rejected
        result.tombstones = self.tombstones
        return result
