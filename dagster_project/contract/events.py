"""The event contract (docs/contract.md) as data: one place the validator and generator read."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

ENVELOPE_FIELDS: tuple[str, ...] = (
    "event_id",
    "org_id",
    "occurred_at",
    "event_name",
    "entity_type",
    "entity_id",
    "actor",
    "payload",
)

ENTITY_TYPES: tuple[str, ...] = ("signal", "candidate", "pursuit", "client", "org", "contact", "user")
ORG_ID_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"
MAX_ID_LENGTH = 128
# An event may be at most this far ahead of the ingest clock.
FUTURE_TOLERANCE_SECONDS = 300
# The instants the apply can represent (its times are Python datetimes, years 1-9999, in UTC). A time
# outside them, however it is written (`0000-06-01T00:00:00Z`, `0001-01-01T00:30:00+01:00`), is refused
# at the door as `bad_timestamp` instead of being accepted and then failing the apply for every org.
EARLIEST_TIMESTAMP = datetime(1, 1, 1, tzinfo=UTC)
LATEST_TIMESTAMP = datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)
# How deep a payload may nest (the payload object is level 1). The apply's JSON parser stops at 1,024
# levels, and a record it cannot parse failed the apply for every org; no contract payload needs more
# than a few levels, so the limit leaves a wide margin either way.
MAX_NESTING = 64
# Integers the apply's parser and tables hold exactly (signed 64 bits); a number beyond them, or a
# double past its range (`1e400`), is refused as `number_overflow`.
MIN_INTEGER = -(2**63)
MAX_INTEGER = 2**63 - 1

SOURCE_TYPES = ("email", "call", "ad", "note", "web", "referral")
VALUE_BANDS = ("low", "med", "high")
CANDIDATE_TARGET_STATUSES = ("triaged", "nurture", "on_hold", "archived")
PURSUIT_STAGES = ("qual", "pink", "red", "submit", "won", "lost")
REASON_CODES = ("price", "timing", "competitor", "no_decision", "scope", "relationship", "other")
CHECKLISTS = ("pink", "red")
ATOM_TYPES = ("decision", "risk", "preference", "note", "status")
MEMORY_ENTITY_TYPES = ("signal", "candidate", "pursuit", "client")
# The `funnel_velocity` stage pairs, in display order (all present per org, zero-filled).
FUNNEL_STAGE_PAIRS: tuple[tuple[str, str], ...] = (
    ("signal", "candidate"),
    ("candidate", "promoted"),
    ("qual", "pink"),
    ("pink", "red"),
    ("red", "submit"),
    ("submit", "won"),
    ("qual", "lost"),
    ("pink", "lost"),
    ("red", "lost"),
    ("submit", "lost"),
)


@dataclass(frozen=True)
class FieldRule:
    """A payload field's type and, optionally, its allowed values or numeric range.

    An "object" may name its own fields (`fields`): the contract bounds values inside nested objects
    too (`memory.recorded`'s `source.trust_weight`), and the validator checks them at any depth.
    """

    kind: str  # "str", "number", "int", "bool", "list", "date", "timestamp", "json", "object"
    required: bool = False
    choices: tuple[str, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None
    fields: dict[str, FieldRule] | None = None


@dataclass(frozen=True)
class EventSpec:
    """One row of the contract's event table.

    `one_of` names fields of which at least one must be present (`contact.linked` links a client, a
    signal or both): a record with none of them is `missing_field`, like an absent required field.
    """

    name: str
    entity_types: tuple[str, ...]
    fields: dict[str, FieldRule] = field(default_factory=dict)
    one_of: tuple[str, ...] = ()

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(k for k, r in self.fields.items() if r.required)

    def rules(self) -> tuple[tuple[tuple[str, ...], FieldRule], ...]:
        """Every payload field the contract states, at any depth, as (path, rule): a parent before its
        fields, so a nested rule is only judged once its object is known to be an object."""
        return tuple(_walk(self.fields, ()))


def _walk(fields: dict[str, FieldRule], prefix: tuple[str, ...]):  # noqa: ANN202 - a generator
    for name, rule in fields.items():
        yield (*prefix, name), rule
        if rule.fields:
            yield from _walk(rule.fields, (*prefix, name))


def _req(kind: str, **kw: object) -> FieldRule:
    return FieldRule(kind, required=True, **kw)  # type: ignore[arg-type]


def _opt(kind: str, **kw: object) -> FieldRule:
    return FieldRule(kind, required=False, **kw)  # type: ignore[arg-type]


_NOTE = {"text": _req("str")}
# Where a record came from (an importer's CRM and the record's id there): optional on the events an
# importer writes, so identity resolution can show a person or company back in its source.
_SOURCE = {"source_system": _opt("str"), "source_id": _opt("str")}

EVENTS: dict[str, EventSpec] = {
    spec.name: spec
    for spec in (
        EventSpec(
            "signal.created",
            ("signal",),
            {
                "source_type": _req("str", choices=SOURCE_TYPES),
                "snippet": _opt("str"),
                "contact_email": _opt("str"),
                "contact_phone": _opt("str"),
                "contact_name": _opt("str"),
                "company_domain": _opt("str"),
                "company_name": _opt("str"),
                "urgency": _opt("number", minimum=0, maximum=1),
                "owner": _opt("str"),
                **_SOURCE,
            },
        ),
        EventSpec("signal.touched", ("signal",), {"channel": _opt("str")}),
        EventSpec("signal.dismissed", ("signal",), {"reason": _opt("str")}),
        EventSpec("signal.updated", ("signal",), {"owner": _opt("str")}),
        EventSpec(
            "client.updated",
            ("client",),
            {"name": _opt("str"), "domain": _opt("str"), "industry": _opt("str"), **_SOURCE},
        ),
        EventSpec(
            "candidate.created",
            ("candidate",),
            {
                "title": _req("str"),
                "client_id": _opt("str"),
                "value_band": _opt("str", choices=VALUE_BANDS),
                "owner": _opt("str"),
                "signal_ids": _opt("list"),
                "tags": _opt("list"),
                **_SOURCE,
            },
        ),
        EventSpec(
            "candidate.updated",
            ("candidate",),
            {
                "title": _opt("str"),
                "client_id": _opt("str"),
                "value_band": _opt("str", choices=VALUE_BANDS),
                "owner": _opt("str"),
                "tags": _opt("list"),
                "signal_ids": _opt("list"),
            },
        ),
        EventSpec(
            "candidate.status_changed",
            ("candidate",),
            {"to": _req("str", choices=CANDIDATE_TARGET_STATUSES), "reason": _opt("str")},
        ),
        EventSpec(
            "candidate.promoted",
            ("candidate",),
            {
                "pursuit_id": _req("str"),
                "due_date": _opt("date"),
                "forecast_value_usd": _opt("number", minimum=0),
                "capture_lead": _opt("str"),
                **_SOURCE,
            },
        ),
        EventSpec(
            "pursuit.stage_changed",
            ("pursuit",),
            {
                "to": _req("str", choices=PURSUIT_STAGES),
                "reason": _opt("str"),
                "reason_code": _opt("str", choices=REASON_CODES),
            },
        ),
        EventSpec(
            "pursuit.checklist_item_set",
            ("pursuit",),
            {"checklist": _req("str", choices=CHECKLISTS), "item": _req("str"), "done": _req("bool")},
        ),
        EventSpec(
            "pursuit.proposal_sent",
            ("pursuit",),
            {"proposal_id": _req("str"), "version": _opt("int", minimum=1)},
        ),
        EventSpec(
            "pursuit.updated",
            ("pursuit",),
            {
                "due_date": _opt("date"),
                "forecast_value_usd": _opt("number", minimum=0),
                "compliance_score": _opt("number", minimum=0, maximum=10),
                "capture_lead": _opt("str"),
            },
        ),
        EventSpec("signal.note_added", ("signal",), dict(_NOTE)),
        EventSpec("candidate.note_added", ("candidate",), dict(_NOTE)),
        EventSpec("pursuit.note_added", ("pursuit",), dict(_NOTE)),
        EventSpec("client.note_added", ("client",), dict(_NOTE)),
        EventSpec(
            "memory.recorded",
            MEMORY_ENTITY_TYPES,
            {
                "atom_type": _req("str", choices=ATOM_TYPES),
                "content": _req("str"),
                "atom_id": _opt("str"),
                "source": _opt(
                    "object",
                    fields={
                        "system": _opt("str"),
                        "url": _opt("str"),
                        "trust_weight": _opt("number", minimum=0, maximum=1),
                    },
                ),
                "tags": _opt("list"),
                "expires_at": _opt("timestamp"),
            },
        ),
        EventSpec(
            "memory.redacted",
            MEMORY_ENTITY_TYPES,
            {"atom_id": _req("str"), "reason": _req("str")},
        ),
        EventSpec(
            "memory.corrected",
            MEMORY_ENTITY_TYPES,
            {"atom_id": _req("str"), "content": _req("str"), "reason": _req("str")},
        ),
        EventSpec("config.changed", ("org",), {"key": _req("str"), "value": _req("json")}),
        EventSpec(
            "contact.updated",
            ("contact",),
            {
                "name": _opt("str"),
                "email": _opt("str"),
                "phone": _opt("str"),
                "title": _opt("str"),
                "client_id": _opt("str"),
                "company_name": _opt("str"),
                "company_domain": _opt("str"),
                "owner": _opt("str"),
                **_SOURCE,
            },
        ),
        EventSpec(
            "contact.linked",
            ("contact",),
            {"client_id": _opt("str"), "signal_id": _opt("str")},
            one_of=("client_id", "signal_id"),
        ),
        EventSpec("contact.merged", ("contact",), {"into_contact_id": _req("str")}),
        EventSpec("contact.split", ("contact",), {"from_contact_id": _req("str")}),
        EventSpec("contact.erased", ("contact",), {"reason": _opt("str")}),
        # A user of the org (a seller, a capture lead): the people `owner`, `capture_lead` and `actor` name,
        # never someone the team sells to (that is a contact). The entity id is the value those fields
        # carry, so nothing that names a user changes.
        EventSpec(
            "user.updated",
            ("user",),
            {
                "name": _opt("str"),
                "email": _opt("str"),
                "title": _opt("str"),
                "role": _opt("str"),
                "active": _opt("bool"),
                **_SOURCE,
            },
        ),
        EventSpec("user.erased", ("user",), {"reason": _opt("str")}),
        EventSpec("client.merged", ("client",), {"into_client_id": _req("str")}),
        EventSpec("client.split", ("client",), {"from_client_id": _req("str")}),
    )
}

EVENT_NAMES: tuple[str, ...] = tuple(sorted(EVENTS))


# Quarantine reason codes, one per way a record can be wrong. Documented in the README.
class Reason:
    UNREADABLE_FILE = "unreadable_file"  # the whole file could not be read (line 0)
    BAD_HEADER = "bad_header"  # CSV/Parquet without the envelope columns (line 0)
    BAD_ENCODING = "bad_encoding"  # not UTF-8
    BAD_JSON = "bad_json"  # not JSON, or not a JSON object
    MALFORMED_ROW = "malformed_row"  # a CSV row whose field count differs from the header
    MISSING_FIELD = "missing_field"  # an envelope or required payload field is absent or null
    WRONG_TYPE = "wrong_type"  # a field has the wrong JSON type
    BAD_ORG_ID = "bad_org_id"
    BAD_ID = "bad_id"  # event_id / entity_id empty or longer than 128 chars
    NAIVE_TIMESTAMP = "naive_timestamp"  # occurred_at without an offset
    BAD_TIMESTAMP = "bad_timestamp"  # not an RFC 3339 timestamp, or outside the supported years (UTC)
    FUTURE_TIMESTAMP = "future_timestamp"  # more than 5 minutes after the ingest clock
    UNKNOWN_EVENT = "unknown_event"
    ENTITY_TYPE_MISMATCH = "entity_type_mismatch"
    OUT_OF_RANGE = "out_of_range"  # a value outside its allowed set or range
    CONFLICTING_DUPLICATE = "conflicting_duplicate"
    DUPLICATE_KEY = "duplicate_key"  # an object (at any depth) has the same key twice
    TOO_DEEP = "too_deep"  # the payload nests deeper than MAX_NESTING levels
    NUMBER_OVERFLOW = "number_overflow"  # an integer outside 64 bits, or a number past a double's range

    @classmethod
    def all(cls) -> tuple[str, ...]:
        return tuple(v for k, v in vars(cls).items() if k.isupper())
