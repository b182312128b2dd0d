"""Stage 3 of validation: the payload rules, generated from the contract's per-event field rules.

They run in DuckDB (JSON work over millions of rows), and only for records that passed stages 1 and 2:
`judged_sql` gives every record of a batch its verdict, the first reason that applies in stage order
(null: valid).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable

from dagster_project.contract.events import (
    EARLIEST_TIMESTAMP,
    EVENTS,
    LATEST_TIMESTAMP,
    ORG_ID_PATTERN,
    FieldRule,
    Reason,
)
from dagster_project.ingestion.parsing import OFFSET_TS, instant_sql, sql_literal, supported_sql

NUMERIC_TYPES = ("BIGINT", "UBIGINT", "DOUBLE", "HUGEINT")


# Per event: its payload fields in contract order, nested ones (`source.trust_weight`) as dotted paths
# after their object. A record's field types (`t[i]`) come from one `json_type` call over its event's
# paths, the texts (`v[j]`) of the fields whose rules look at the value from one `json_extract_string`
# call: each payload is parsed at most twice, only for its own fields.
EVENT_RULES = {
    event: {".".join(path): rule for path, rule in spec.rules()} for event, spec in sorted(EVENTS.items())
}
EVENT_FIELDS = {event: tuple(rules) for event, rules in EVENT_RULES.items()}
EVENT_VALUE_FIELDS = {
    event: tuple(
        name
        for name, rule in rules.items()
        if rule.choices or rule.kind in ("number", "int", "date", "timestamp")
    )
    for event, rules in EVENT_RULES.items()
}


def _path(name: str) -> str:
    assert all(part.isidentifier() for part in name.split(".")), name  # no quoting needed in a JSON path
    return sql_literal("$." + name)


def _field_present(event: str, name: str) -> str:
    typ = f"t[{EVENT_FIELDS[event].index(name) + 1}]"
    return f"({typ} is not null and {typ} <> 'NULL')"


def _rule_conditions(event: str, name: str, rule: FieldRule) -> list[tuple[str, str, str]]:
    """(SQL condition that is true when broken, reason, detail) for one payload field of one event."""
    typ = f"t[{EVENT_FIELDS[event].index(name) + 1}]"
    val = f"v[{EVENT_VALUE_FIELDS[event].index(name) + 1}]" if name in EVENT_VALUE_FIELDS[event] else "NULL"
    present = _field_present(event, name)
    parent = name.rpartition(".")[0]
    # A nested field is required only of an object that is there (an absent optional object needs none).
    needed = f"{_field_present(event, parent)} and " if parent else ""
    out: list[tuple[str, str, str]] = []
    if rule.required:
        out.append((f"{needed}not {present}", Reason.MISSING_FIELD, f"{event} needs payload.{name}"))
    type_ok = {
        "str": f"{typ} = 'VARCHAR'",
        "number": f"{typ} in ({', '.join(map(sql_literal, NUMERIC_TYPES))})",
        "int": f"{typ} in ('BIGINT', 'UBIGINT')",
        "bool": f"{typ} = 'BOOLEAN'",
        "list": f"{typ} = 'ARRAY'",
        "object": f"{typ} = 'OBJECT'",
        "date": f"{typ} = 'VARCHAR' and try_strptime({val}, '%Y-%m-%d') is not null",
        "timestamp": f"{typ} = 'VARCHAR' and regexp_full_match({val}, '{OFFSET_TS}') "
        f"and {instant_sql(val)} is not null",
        "json": "true",
    }[rule.kind]
    out.append((f"{present} and not ({type_ok})", Reason.WRONG_TYPE, f"payload.{name} must be a {rule.kind}"))
    supported = {
        "date": f"try_strptime({val}, '%Y-%m-%d') between '{EARLIEST_TIMESTAMP.date()}'::timestamp "
        f"and '{LATEST_TIMESTAMP.date()}'::timestamp",
        "timestamp": supported_sql(instant_sql(val)),
    }.get(rule.kind)
    if supported:
        out.append(
            (
                f"{present} and not ({supported})",
                Reason.BAD_TIMESTAMP,
                f"payload.{name} must lie in {EARLIEST_TIMESTAMP.isoformat()} - {LATEST_TIMESTAMP.isoformat()}",
            )
        )
    if rule.choices:
        allowed = ", ".join(map(sql_literal, rule.choices))
        out.append(
            (
                f"{present} and not list_contains([{allowed}], {val})",
                Reason.OUT_OF_RANGE,
                f"payload.{name} must be one of {allowed}",
            )
        )
    if rule.kind in ("number", "int"):
        number = f"try_cast({val} as double)"
        bounds = [f"not isfinite({number})"]
        if rule.minimum is not None:
            bounds.append(f"{number} < {rule.minimum}")
        if rule.maximum is not None:
            bounds.append(f"{number} > {rule.maximum}")
        span = f"[{rule.minimum if rule.minimum is not None else '-inf'}, {rule.maximum if rule.maximum is not None else 'inf'}]"
        out.append(
            (
                f"{present} and ({' or '.join(bounds)})",
                Reason.OUT_OF_RANGE,
                f"payload.{name} must be within {span}",
            )
        )
    return out


def _one_of_condition(event: str) -> list[tuple[str, str, str]]:
    """A record that names none of its event's `one_of` fields misses a field, like a required one."""
    names = EVENTS[event].one_of
    if not names:
        return []
    anyone = " or ".join(_field_present(event, name) for name in names)
    detail = f"{event} needs one of " + ", ".join(f"payload.{name}" for name in names)
    return [(f"not ({anyone})", Reason.MISSING_FIELD, detail)]


def _payload_rules() -> list[tuple[str, str, str, str]]:
    """(event, broken-when SQL, reason, detail) for every payload rule, in priority order per event."""
    return [
        (event, condition, reason, detail)
        for event, rules in EVENT_RULES.items()
        for condition, reason, detail in [
            *_one_of_condition(event),
            *(c for name, rule in rules.items() for c in _rule_conditions(event, name, rule)),
        ]
    ]


PAYLOAD_RULES = _payload_rules()


def _per_event(
    function: str, fields: dict[str, tuple[str, ...]], events: frozenset[str] | None = None
) -> str:
    """`function(payload, [its event's paths])` for each event with such fields (else NULL); with
    `events`, for those events only."""
    whens = " ".join(
        f"when {sql_literal(event)} then {function}(payload, [{', '.join(map(_path, names))}])"
        for event, names in fields.items()
        if names and (events is None or event in events)
    )
    return f"case event_name {whens} end" if whens else "null"


def _rule_index_sql(events: frozenset[str] | None = None) -> str:
    """The index of a record's first broken payload rule: one CASE per event name (only its rows); with
    `events`, for those events only."""
    branches = []
    for event in sorted(EVENTS if events is None else events & EVENTS.keys()):
        whens = " ".join(
            f"when {condition} then {i + 1}"
            for i, (ev, condition, _, _) in enumerate(PAYLOAD_RULES)
            if ev == event
        )
        if whens:
            branches.append(f"when {sql_literal(event)} then (case {whens} end)")
    return f"case event_name {' '.join(branches)} end" if branches else "cast(null as integer)"


def _payload_sql(events: frozenset[str] | None = None) -> str:
    """The verdict per record of `{schema}.parsed`: parse, envelope, then payload reason (null: valid).

    Payload fields are looked at only for records that passed the earlier stages, and only their own
    event's fields. Reasons and details are looked up by index in constant lists, so no join is needed.
    `events`: only these events' rules and fields (None: every event's).
    """
    reasons = "[" + ", ".join(sql_literal(reason) for _, _, reason, _ in PAYLOAD_RULES) + "]"
    details = "[" + ", ".join(sql_literal(detail) for _, _, _, detail in PAYLOAD_RULES) + "]"
    return f"""
create or replace table {{schema}}.judged as
with s as (
    select s.* replace (coalesce(s.parse_reason, st.reason) as parse_reason,
            coalesce(s.parse_detail, st.detail) as parse_detail),
        env.reason as env_reason, env.detail as env_detail,
        s.parse_reason is null and st.reason is null and env.reason is null as judge_payload
    from {{schema}}.parsed s left join {{schema}}.env env using (line)
        left join {{schema}}.structure st using (line)
),
fields as (
    select *,
        case when judge_payload then {_per_event("json_type", EVENT_FIELDS, events)} end as t,
        case when judge_payload then {_per_event("json_extract_string", EVENT_VALUE_FIELDS, events)} end as v
    from s
),
judged as (select *, case when judge_payload then {_rule_index_sql(events)} end as rule_id from fields)
select
    line,
    coalesce(parse_reason, env_reason, {reasons}[rule_id]) as reason,
    coalesce(parse_detail, env_detail, {details}[rule_id]) as detail,
    case when t_org_id = 'VARCHAR' and regexp_full_match(org_id, '{ORG_ID_PATTERN}') then org_id end as org_id,
    case when t_event_id = 'VARCHAR' then event_id end as event_id,
    case when coalesce(parse_reason, env_reason, {reasons}[rule_id]) is null then content_hash end as content_hash,
    case when coalesce(parse_reason, env_reason, {reasons}[rule_id]) is null then key_hash end as key_hash
from judged
"""


def judged_sql(events: Iterable[str]) -> str:
    """The verdict statement for a batch whose records name only `events`. DuckDB binds the whole
    statement, and binding every event's rules cost most of a small file's ingest; a record of an event
    left out could not be judged, so the caller passes every event name its batch holds. Names outside the contract
    (the envelope refuses them) are dropped before the cache, so a file of made-up names cannot churn it."""
    return _judged_sql(frozenset(event for event in events if event in EVENTS))


@functools.lru_cache(maxsize=256)
def _judged_sql(events: frozenset[str]) -> str:
    return _payload_sql(events)
