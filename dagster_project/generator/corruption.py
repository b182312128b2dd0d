"""Bad lines: each one wrong for exactly one quarantine reason, so an ingest's counts can be checked exactly.

Every bad record starts as a *valid* event with a fresh event_id (namespace `evt-<org>-q<n>`, never used
by a valid event, so it cannot shadow one) and then gets one defect. Duplicates are the exception: they
reuse a written event's id on purpose and are placed after it (the engine picks the file). Kinds a
format cannot express are never asked of it: invalid UTF-8 only in JSON Lines, a wrong field count only
in CSV; in CSV an empty cell is ambiguous (null or empty), so CSV never carries missing-envelope or
empty-id cases.
"""

from __future__ import annotations

import random
from typing import Any

import orjson

from dagster_project.contract.events import ENVELOPE_FIELDS, EVENTS, MAX_INTEGER, MAX_NESTING, Reason

from .telling import Event
from .writers import BadRecord

IDENTICAL_DUPLICATE = "identical_duplicate"  # not a quarantine reason: counted as a duplicate
# Per-record reasons the generator injects (a test checks this is every Reason but the whole-file ones:
# unreadable_file and bad_header, which only tests construct; a generated file is always readable).
LINE_REASONS: tuple[str, ...] = (
    Reason.BAD_ENCODING,
    Reason.BAD_JSON,
    Reason.MALFORMED_ROW,
    Reason.MISSING_FIELD,
    Reason.WRONG_TYPE,
    Reason.BAD_ORG_ID,
    Reason.BAD_ID,
    Reason.NAIVE_TIMESTAMP,
    Reason.BAD_TIMESTAMP,
    Reason.FUTURE_TIMESTAMP,
    Reason.UNKNOWN_EVENT,
    Reason.ENTITY_TYPE_MISMATCH,
    Reason.OUT_OF_RANGE,
    Reason.CONFLICTING_DUPLICATE,
    Reason.DUPLICATE_KEY,
    Reason.TOO_DEEP,
    Reason.NUMBER_OVERFLOW,
)
KINDS: tuple[str, ...] = (*LINE_REASONS, IDENTICAL_DUPLICATE)
# Kinds only some formats can express (every other kind fits every format).
KIND_FORMATS: dict[str, tuple[str, ...]] = {
    Reason.BAD_ENCODING: ("jsonl", "jsonl.gz"),
    Reason.MALFORMED_ROW: ("csv",),
}
DUPLICATE_KINDS = frozenset({Reason.CONFLICTING_DUPLICATE, IDENTICAL_DUPLICATE})

_ENVELOPE_REQUIRED = ("event_id", "org_id", "occurred_at", "event_name", "entity_type", "entity_id")
_WITH_REQUIRED = tuple(name for name in sorted(EVENTS) if EVENTS[name].required)
_BAD_ORG_IDS = ("Acme Corp!", "ACME", "-acme", "acme corp", "acme/corp", "Globex Ltd.", "x" * 65)
_BAD_TIMESTAMPS = (
    "not-a-date",
    "2026-13-45T10:00:00Z",
    "2026-02-30T09:00:00-05:00",
    "2026-10-05T25:61:00+01:00",
)
_UNKNOWN_EVENTS = (
    ("signal.exploded", "signal"),
    ("pursuit.teleported", "pursuit"),
    ("candidate.vanished", "candidate"),
    ("client.abducted", "client"),
)
_MISMATCHES = (
    ("signal.created", "pursuit"),
    ("candidate.promoted", "pursuit"),
    ("pursuit.stage_changed", "candidate"),
    ("config.changed", "signal"),
    ("client.updated", "signal"),
    ("memory.recorded", "org"),
)
_OUT_OF_RANGE: tuple[tuple[str, str, Any], ...] = (
    ("signal.created", "urgency", 1.7),
    ("signal.created", "urgency", -0.2),
    ("signal.created", "source_type", "fax"),
    ("candidate.created", "value_band", "huge"),
    ("pursuit.updated", "compliance_score", 11),
    ("pursuit.stage_changed", "to", "negotiation"),
    ("pursuit.stage_changed", "reason_code", "bad_luck"),
    ("pursuit.proposal_sent", "version", 0),
    ("candidate.promoted", "forecast_value_usd", -5000),
    ("candidate.status_changed", "to", "closed"),
    ("memory.recorded", "atom_type", "gossip"),
    ("pursuit.checklist_item_set", "checklist", "blue"),
)
# Payload fields given a value of the wrong JSON type (expressible in every format).
_WRONG_TYPES: tuple[tuple[str, str, Any], ...] = (
    ("pursuit.checklist_item_set", "done", "yes"),
    ("signal.created", "urgency", "high"),
    ("pursuit.proposal_sent", "version", "2"),
    ("candidate.created", "signal_ids", "sig-0000001"),
    ("candidate.created", "tags", "vip"),
    ("candidate.created", "title", ["Data", "platform"]),
    ("pursuit.note_added", "text", 42),
    ("pursuit.updated", "forecast_value_usd", "90000"),
)
_TEXT_KEYS = ("text", "snippet", "content", "title", "reason")
# A payload key written twice, both values valid (so the key is the record's only fault).
_DUPLICATED_KEYS: tuple[tuple[str, str, Any, Any], ...] = (
    ("candidate.created", "value_band", "low", "high"),
    ("signal.created", "urgency", 0.2, 0.9),
    ("pursuit.stage_changed", "reason", "Price.", "Timing."),
    ("memory.recorded", "content", "Budget is frozen.", "Budget is approved."),
)
# Numbers no 64-bit integer or double holds, under a key the contract does not name (kept as is).
_OVERFLOWING_NUMBERS = (b"1e400", b"-2.5E+3080", str(MAX_INTEGER + 1).encode(), b"9" * 40)


def _template_payload(name: str, day: str) -> tuple[str, dict[str, Any]]:
    """A valid payload (and entity type) for `name`."""
    if name == "signal.created":
        return "signal", {"source_type": "email", "snippet": "Asked for a pricing sheet.", "urgency": 0.5}
    if name == "candidate.created":
        return "candidate", {
            "title": "Follow-up opportunity",
            "value_band": "med",
            "signal_ids": ["sig-0000001"],
            "tags": ["q4"],
        }
    if name == "candidate.status_changed":
        return "candidate", {"to": "triaged"}
    if name == "candidate.promoted":
        return "candidate", {"pursuit_id": "pur-q0000001", "due_date": day, "forecast_value_usd": 120000}
    if name == "pursuit.stage_changed":
        return "pursuit", {"to": "lost", "reason_code": "price", "reason": "Competitor was cheaper."}
    if name == "pursuit.checklist_item_set":
        return "pursuit", {"checklist": "pink", "item": "budget_confirmed", "done": True}
    if name == "pursuit.proposal_sent":
        return "pursuit", {"proposal_id": "prop-q0000001-v1", "version": 1}
    if name == "pursuit.updated":
        return "pursuit", {"compliance_score": 7.5, "forecast_value_usd": 90000}
    if name.endswith(".note_added"):
        return name.split(".")[0], {"text": "Client prefers fixed pricing."}
    if name == "memory.recorded":
        return "candidate", {"atom_type": "risk", "content": "Decision delayed due to Q4 budget freeze."}
    if name == "memory.redacted":
        return "pursuit", {"atom_id": "evt-q0000001", "reason": "PII"}
    if name == "memory.corrected":
        return "pursuit", {"atom_id": "evt-q0000001", "content": "Budget is $1.2M.", "reason": "Typo"}
    if name == "config.changed":
        return "org", {"key": "sla.triage.threshold_hours", "value": 24}
    if name == "client.updated":
        return "client", {"name": "Contoso Health", "domain": "contosohealth.com"}
    if name in _IDENTITY_TEMPLATES:
        return EVENTS[name].entity_types[0], dict(_IDENTITY_TEMPLATES[name])
    spec = EVENTS[name]
    return spec.entity_types[0], {}


_IDENTITY_TEMPLATES: dict[str, dict[str, Any]] = {
    "contact.merged": {"into_contact_id": "con-q0000001"},
    "contact.split": {"from_contact_id": "con-q0000001"},
    "client.merged": {"into_client_id": "cli-q0000001"},
    "client.split": {"from_client_id": "cli-q0000001"},
}
_ENTITY_PREFIX = {
    "signal": "sig",
    "candidate": "cand",
    "pursuit": "pur",
    "client": "cli",
    "contact": "con",
    "user": "usr",
}


class Corruptor:
    """Builds bad records from recent valid events; `make(kind, fmt, base)` for one of KINDS."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.r = rng.random
        self.n = 0

    def _pick(self, seq: tuple[Any, ...]) -> Any:
        return seq[int(self.r() * len(seq))]

    def template(self, base: Event, name: str, etype: str | None = None) -> dict[str, Any]:
        """A valid event `name` in `base`'s org, at `base`'s time, with a fresh id."""
        self.n += 1
        org, ts, actor = base[1], base[2], base[6]
        own_type, payload = _template_payload(name, ts[:10])
        etype = etype or own_type
        eid = org if "org" in (own_type, etype) else f"{_ENTITY_PREFIX[own_type]}-q{self.n:07d}"
        values = (f"evt-{org}-q{self.n:07d}", org, ts, name, etype, eid, actor, payload)
        return dict(zip(ENVELOPE_FIELDS, values, strict=True))

    def make(self, kind: str, fmt: str, base: Event) -> BadRecord:
        """One record wrong for exactly `kind` (not for the duplicate kinds: see `conflicting`)."""
        jsonl = fmt.startswith("jsonl")
        pick, r = self._pick, self.r
        if kind == Reason.BAD_JSON:
            d = self.template(base, pick(("signal.created", "pursuit.updated", "candidate.note_added")))
            if not jsonl:
                text = orjson.dumps(d["payload"]).decode()
                d["payload"] = text[: max(1, len(text) // 2)] if r() < 0.6 else str(d["payload"])
                return d
            line = orjson.dumps(d).decode()
            u = r()
            if u < 0.4:
                return line[: 10 + int(r() * (len(line) - 12))].encode()  # truncated
            if u < 0.55:
                return f"[{line}]".encode()  # JSON, but not an object
            if u < 0.7:
                return pick((b'"just a string"', b"42", b"null", b"true"))
            if u < 0.85:
                return (line[:-1] + ",}").encode()  # trailing comma
            return f"event_id={d['event_id']};org_id={d['org_id']}".encode()
        if kind == Reason.BAD_ENCODING:
            d = self.template(base, pick(("signal.note_added", "candidate.note_added", "client.note_added")))
            d["payload"] = {"text": "Lunch at the caf@@ near the client's office."}
            return orjson.dumps(d).replace(b"@@", pick((b"\xe9", b"\xff\xfe", b"\xc3\x28", b"\xa0")))
        if kind == Reason.MALFORMED_ROW:  # CSV only: one field too many or too few
            d = self.template(base, "signal.touched")
            row: list[Any] = [d[f] for f in ENVELOPE_FIELDS]
            if r() < 0.5:
                row.append("extra")
            else:
                del row[6]  # the actor column
            return row
        if kind == Reason.MISSING_FIELD:
            if (jsonl and r() < 0.5) or (fmt == "parquet" and r() < 0.35):
                d = self.template(base, "pursuit.stage_changed")
                key = pick(_ENVELOPE_REQUIRED)
                if jsonl:
                    del d[key]
                else:
                    d[key] = None
                return d
            d = self.template(base, pick(_WITH_REQUIRED))
            spec = EVENTS[d["event_name"]]
            key = pick(spec.required)
            if spec.fields[key].kind != "json" and r() < 0.3:
                d["payload"][key] = None
            else:
                del d["payload"][key]
            return d
        if kind == Reason.WRONG_TYPE:
            u = r()
            if jsonl and u < 0.4:
                d = self.template(base, "pursuit.updated")
                field = pick(("event_id", "payload", "actor", "entity_id"))
                d[field] = {"event_id": 1000 + self.n, "payload": [1, 2], "actor": 42, "entity_id": 7}[field]
                return d
            name, field, value = pick(_WRONG_TYPES)
            d = self.template(base, name)
            d["payload"][field] = value
            return d
        if kind == Reason.BAD_ORG_ID:
            d = self.template(base, "signal.created")
            d["org_id"] = pick(_BAD_ORG_IDS)
            return d
        if kind == Reason.BAD_ID:
            d = self.template(base, "candidate.status_changed")
            field = pick(("event_id", "entity_id"))
            if fmt != "csv" and r() < 0.5:
                d[field] = ""
            else:
                d[field] = f"{d[field]}-{'x' * 130}"
            return d
        if kind == Reason.NAIVE_TIMESTAMP:
            d = self.template(base, "signal.touched")
            ts = d["occurred_at"]
            naive = ts[:-1] if ts.endswith("Z") else ts[:-6]
            d["occurred_at"] = naive if r() < 0.7 else naive[:19]
            return d
        if kind == Reason.BAD_TIMESTAMP:
            d = self.template(base, "signal.touched")
            d["occurred_at"] = pick(_BAD_TIMESTAMPS)
            return d
        if kind == Reason.FUTURE_TIMESTAMP:
            d = self.template(base, pick(("signal.created", "pursuit.updated", "candidate.status_changed")))
            ts = d["occurred_at"]
            if ts[5:10] == "02-29":
                ts = ts[:8] + "28" + ts[10:]
            d["occurred_at"] = "2099" + ts[4:]
            return d
        if kind == Reason.UNKNOWN_EVENT:
            name, etype = pick(_UNKNOWN_EVENTS)
            d = self.template(base, "signal.touched")
            d["event_name"], d["entity_type"] = name, etype
            d["payload"] = {"detail": "emitted by a newer app version"}
            return d
        if kind == Reason.ENTITY_TYPE_MISMATCH:
            name, etype = pick(_MISMATCHES)
            return self.template(base, name, etype)
        if kind == Reason.OUT_OF_RANGE:
            name, field, value = pick(_OUT_OF_RANGE)
            d = self.template(base, name)
            d["payload"][field] = value
            return d
        if kind in (Reason.DUPLICATE_KEY, Reason.TOO_DEEP, Reason.NUMBER_OVERFLOW):
            return self._shaped(kind, jsonl, base)
        raise ValueError(f"make() does not build {kind!r}")

    def _shaped(self, kind: str, jsonl: bool, base: Event) -> BadRecord:
        """A record whose JSON text is at fault: a key twice, too deep a payload, a number too big.
        Written as text (JSON Lines bytes, or a payload string), since a dict cannot hold them."""
        pick = self._pick
        if kind == Reason.DUPLICATE_KEY:
            name, key, first, last = pick(_DUPLICATED_KEYS)
            d = self.template(base, name)
            d["payload"].pop(key, None)
            extra = b"," + orjson.dumps({key: first})[1:-1] + b"," + orjson.dumps({key: last})[1:-1]
        elif kind == Reason.TOO_DEEP:
            d = self.template(base, pick(("signal.created", "pursuit.updated", "candidate.note_added")))
            levels = pick((MAX_NESTING, MAX_NESTING + 5, 1100))  # the payload itself is one level more
            extra = b',"thread":' + b"[" * levels + b"]" * levels
        else:
            d = self.template(base, pick(("signal.created", "pursuit.updated", "client.updated")))
            extra = b',"raw_score":' + pick(_OVERFLOWING_NUMBERS)
        payload = orjson.dumps(d["payload"])[:-1] + extra + b"}"
        if not jsonl:
            d["payload"] = payload.decode()
            return d
        if kind == Reason.DUPLICATE_KEY and self.r() < 0.4:  # the envelope's key twice, the same value
            d["payload"] = orjson.Fragment(orjson.dumps(d["payload"]))
            return orjson.dumps(d).replace(
                b',"org_id":', b',"org_id":"' + d["org_id"].encode() + b'","org_id":', 1
            )
        d["payload"] = orjson.Fragment(payload)
        return orjson.dumps(d)

    def conflicting(self, ev: Event) -> Event:
        """`ev` with the same org and event_id but different content (a changed payload)."""
        payload = dict(ev[7])
        keys = [k for k in _TEXT_KEYS if isinstance(payload.get(k), str)]
        if keys and self.r() < 0.5:
            payload[keys[0]] = payload[keys[0]] + " (resent)"
        else:
            payload["revision"] = 2
        return (*ev[:7], payload)
