"""Memory atoms for one org, captured from its events and its lifecycle fold (pure; no I/O, no clock).

Nobody has to write a note: every lifecycle action the fold applied becomes an atom (entity creation,
status and stage changes, promotion, proposals sent, won/lost with their reason, failed gate attempts),
`*.note_added` texts become atoms typed by the rule-based classifier, and `memory.recorded` events are
explicit atoms. Governance is applied here too: `memory.corrected` replaces an atom's content (same
id, version + 1, audit row) and `memory.redacted` removes it (tombstone, audit row).

Ids (contract "Memory defaults"): a note's or an explicit atom's `atom_id` is its event's `event_id`
(an explicit `payload.atom_id` wins for `memory.recorded`); an automatic atom's is
`<event_id>:<rule>`, rules in memory/atoms.py (`AUTO_RULES`), with `:<signal_id>` after `linked`
because one event may link several signals.

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

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from dagster_project.config.registry import ConfigRegistry
from dagster_project.contract.events import ATOM_TYPES
from dagster_project.contract.states import Outcome
from dagster_project.lifecycle.fold import FoldResult, event_order
from dagster_project.memory.atoms import (
    AUTO_RULES,
    CORRECTED,
    NOTE_EVENTS,
    RECORDED,
    REDACTED,
    Event,
    MemoryResult,
    Row,
    clean_text,
    content_hash,
    erased_hash,
    explicit_atom_id,
    explicit_time,
    payload_of,
    source_trust,
)
from dagster_project.memory.classify import classify, classify_many


def capture_atoms(
    events: Iterable[Event],
    fold_result: FoldResult,
    registry: ConfigRegistry,
    as_of: datetime,
    *,
    tombstones: Iterable[Mapping[str, Any]] = (),
    note_types: Mapping[str, tuple[str, str | None]] | None = None,
) -> MemoryResult:
    """Memory atoms of ONE org's accepted events (any order) as of `as_of`.

    `fold_result` is the lifecycle fold of the same events as of `as_of` (its transitions, rejections,
    outcomes and entity rows are read, never changed). `tombstones`: earlier redactions, each
    `{atom_id, content_hashes?, entity_type?, entity_id?}` (no entity: the hashes apply org-wide).
    `note_types`: notes already classified, by event id (`classify_notes`, done once for a whole batch);
    a note it lacks is classified here. Raises ValueError for several orgs or a naive timestamp.
    """
    if as_of.tzinfo is None:
        raise ValueError("as_of must be timezone-aware")
    as_of = as_of.astimezone(UTC)
    ordered = _prepare(events)
    result = MemoryResult(as_of=as_of)
    if not ordered:
        return result
    capture = _Capture(ordered[0]["org_id"], fold_result, registry, as_of, note_types or {})
    for event in ordered:
        if event["occurred_at"] <= as_of:
            capture.event(event)
    for event in ordered:
        # A correction applies at every as-of, like a redaction: its old text is scrubbed from the log.
        if event["event_name"] == CORRECTED:
            capture.correct(event)
    capture.redact_all([e for e in ordered if e["event_name"] == REDACTED], ordered, tombstones)
    return capture.result(result)


def classify_notes(
    events: Iterable[Event], org_id: str, registry: ConfigRegistry, as_of: datetime
) -> dict[str, tuple[str, str | None]]:
    """The classification `capture_atoms` gives each of one org's notes, all notes at once (`classify_many`)."""
    notes = [
        (event["event_id"], text)
        for event in events
        if event["event_name"] in NOTE_EVENTS
        and (text := clean_text(payload_of(event).get("text"))) is not None
    ]
    rules = registry.value(org_id, "memory.note_rules", as_of)
    types = classify_many([text for _, text in notes], rules)
    return {event_id: kind for (event_id, _), kind in zip(notes, types, strict=True)}


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


class _Capture:
    def __init__(
        self,
        org_id: str,
        fold: FoldResult,
        registry: ConfigRegistry,
        as_of: datetime,
        note_types: Mapping[str, tuple[str, str | None]],
    ) -> None:
        self.org_id, self.registry, self.as_of, self.note_types = org_id, registry, as_of, note_types
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
        digest = erased_hash(event, atom_id) or content_hash(content)
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
        payload = payload_of(event)
        text = clean_text(payload.get("text"))
        if text is None:
            return
        kept = payload.get("atom_type")
        if text.startswith("[corrected: ") and kept in ATOM_TYPES:
            # A correction scrubbed the text it was classified from; the scrub kept its type.
            matched = payload.get("classified_by")
            atom_type, matched = kept, matched if isinstance(matched, str) else None
        elif (known := self.note_types.get(event["event_id"])) is not None:
            atom_type, matched = known
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
        payload = payload_of(event)
        content = clean_text(payload.get("content"))
        if content is None:
            return
        atom_type = payload.get("atom_type")
        if atom_type not in ATOM_TYPES:
            self.rejected.append(
                {
                    "event_id": event["event_id"],
                    "atom_id": explicit_atom_id(event),
                    "rule": "invalid_atom_type",
                    "detail": f"atom_type must be one of {', '.join(ATOM_TYPES)}",
                }
            )
            return
        source = payload.get("source") if isinstance(payload.get("source"), Mapping) else {}
        tags = payload.get("tags")
        self._add(
            event,
            explicit_atom_id(event),
            event["entity_type"],
            event["entity_id"],
            atom_type,
            content,
            source="explicit",
            rule="recorded",
            tags=[str(t) for t in tags] if isinstance(tags, list) else [],
            trust_weight=source_trust(source),
            expires_at=explicit_time(payload.get("expires_at")),
            source_system=clean_text(source.get("system")),
            source_url=clean_text(source.get("url")),
        )

    def _client_updated(self, event: Event) -> None:
        payload, client_id = payload_of(event), event["entity_id"]
        fields = [(k, clean_text(payload.get(k))) for k in ("name", "domain", "industry")]
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
        payload = payload_of(event)
        version = payload.get("version")
        label = f"{payload.get('proposal_id')}" + (f" v{version}" if version is not None else "")
        content = f"Proposal {label} sent to client"
        self._auto(event, "proposal_sent", "pursuit", event["entity_id"], content, ["proposal", "submission"])

    def _transition(self, event: Event, t: Row) -> None:
        kind, entity_id, before, after = t["entity_type"], t["entity_id"], t["from_state"], t["to_state"]
        payload = payload_of(event)
        reason = clean_text(payload.get("reason"))
        warned = " (applied despite a failed rule: gate_mode warn)" if t.get("warned") else ""
        if kind == "signal":
            self._signal_transition(event, entity_id, before, after, payload)
        elif kind == "candidate" and before is None:
            title = clean_text(payload.get("title")) or "New Candidate"
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
            code = clean_text(payload.get("reason_code"))
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
            source = clean_text(payload.get("source_type")) or "unknown source"
            company = clean_text(payload.get("company_name")) or clean_text(payload.get("company_domain"))
            snippet = clean_text(payload.get("snippet"))
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
            title = clean_text((self.candidates.get(candidate) or {}).get("title"))
            content = f"Signal linked to candidate {candidate}" + (f" ({title})" if title else "")
            self._auto(event, f"linked:{signal_id}", "signal", signal_id, content, ["link"])
        elif after == "touched":
            channel = clean_text(payload.get("channel"))
            content = "Signal first touched" + (f" via {channel}" if channel else "")
            self._auto(event, "touched", "signal", signal_id, content, ["touch"])
        elif after == "dismissed":
            reason = clean_text(payload.get("reason"))
            content = "Signal dismissed" + (f" - {reason}" if reason else "")
            self._auto(event, "dismissed", "signal", signal_id, content, ["dismissal"])

    def _gate(self, event: Event, row: Row) -> None:
        target = payload_of(event).get("to")
        if row["outcome"] == Outcome.WARNED:
            content = f"Moved to {target} despite a failed gate (gate_mode warn): {row['detail']}"
        else:
            content = f"Move to {target} blocked: {row['detail']}"
        rule = str(row["rule"]).replace(":", "_")
        self._auto(event, rule, row["entity_type"], row["entity_id"], content, ["gate", str(row["outcome"])])

    # --- governance ----------------------------------------------------------------------------------

    def correct(self, event: Event) -> None:
        payload = payload_of(event)
        atom_id, content = payload.get("atom_id"), clean_text(payload.get("content"))
        atom = self.atoms.get(atom_id) if isinstance(atom_id, str) else None
        if atom is None and event["occurred_at"] > self.as_of:
            return  # not judged at this as-of: its atom may arrive by the time it is
        if atom is None or content is None:
            why = "no such atom as of this time" if atom is None else "empty content"
            self.rejected.append(
                {"event_id": event["event_id"], "atom_id": atom_id, "rule": "unknown_atom", "detail": why}
            )
            return
        old, new = atom["content_hash"], erased_hash(event, atom_id) or content_hash(content)
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
        kept = list(kept)
        if not redactions and not kept:  # most clusters: nothing to tombstone, nothing to drop
            self.audit.sort(key=lambda r: (r["occurred_at"], r["audit_id"]))
            return
        # Contents the redacted atoms have outside this as-of view (events after as_of) count too.
        redacted_ids = {payload_of(r).get("atom_id") for r in redactions}
        for event in ordered:
            if event["occurred_at"] <= self.as_of:
                continue  # captured (or corrected) above: already in self.history
            payload, name = payload_of(event), event["event_name"]
            atom_id, text = None, None
            if name in NOTE_EVENTS:
                atom_id, text = event["event_id"], payload.get("text")
            elif name == RECORDED:
                atom_id, text = explicit_atom_id(event), payload.get("content")
            elif name == CORRECTED:
                atom_id, text = payload.get("atom_id"), payload.get("content")
            if atom_id in redacted_ids and clean_text(text) is not None:
                entry = self.history.setdefault(atom_id, (event["entity_type"], event["entity_id"], []))
                entry[2].append((event["occurred_at"], erased_hash(event, atom_id) or content_hash(text)))
        blocked: set[tuple[str | None, str | None, str]] = set()
        dead: set[str] = set()
        for redaction in redactions:
            atom_id = payload_of(redaction).get("atom_id")
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
            "reason": clean_text(payload_of(event).get("reason")),
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
