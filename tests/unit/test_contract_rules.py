"""Every bound and every type of the contract module's event table is enforced, at any depth.

The cases are read from `contract.EVENTS` (walking nested objects), not listed by hand: a bound or a
field added to the contract is tested without touching this file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from dagster_project.contract.events import EVENTS, FieldRule, Reason
from dagster_project.ingestion.ingest import ingest_file
from tests.events_factory import event, write_jsonl

# A value of each kind that the contract accepts (choices and bounds are applied on top).
_VALID = {
    "str": "x",
    "number": 1,
    "int": 1,
    "bool": True,
    "list": [],
    "date": "2026-10-01",
    "timestamp": "2026-10-01T00:00:00Z",
    "json": 1,
    "object": {},
}
# A value of the wrong JSON type (or text that is not of the kind) for each kind.
_WRONG = {
    "str": 5,
    "number": "5",
    "int": 1.5,
    "bool": "yes",
    "list": "x",
    "date": "2026-02-30",
    "timestamp": "yesterday",
    "object": "x",
}


def _valid(rule: FieldRule) -> Any:
    if rule.choices:
        return rule.choices[0]
    if rule.kind == "object":
        return {name: _valid(sub) for name, sub in (rule.fields or {}).items() if sub.required}
    if rule.kind in ("number", "int"):
        low = rule.minimum if rule.minimum is not None else _VALID[rule.kind]
        return max(low, min(_VALID[rule.kind], rule.maximum if rule.maximum is not None else low))
    return _VALID[rule.kind]


def _record(name: str, path: tuple[str, ...], value: Any, event_id: str) -> dict[str, Any]:
    """A valid event of `name` whose payload holds `value` at `path` (its objects made as needed)."""
    spec = EVENTS[name]
    payload = {field: _valid(rule) for field, rule in spec.fields.items() if rule.required}
    if spec.one_of and path[0] not in spec.one_of:
        payload[spec.one_of[0]] = _valid(spec.fields[spec.one_of[0]])
    node, rules = payload, spec.fields
    for part in path[:-1]:
        node = node.setdefault(part, _valid(rules[part]))
        rules = rules[part].fields or {}
    node[path[-1]] = value
    entity_type = spec.entity_types[0]
    entity_id = "acme" if entity_type == "org" else f"{entity_type}-1"
    return event(event_id, event_name=name, entity_type=entity_type, entity_id=entity_id, payload=payload)


def _bounds() -> list[tuple[str, tuple[str, ...], FieldRule, str]]:
    out = []
    for name, spec in sorted(EVENTS.items()):
        for path, rule in spec.rules():
            if rule.choices:
                out.append((name, path, rule, "choices"))
            if rule.minimum is not None:
                out.append((name, path, rule, "minimum"))
            if rule.maximum is not None:
                out.append((name, path, rule, "maximum"))
    return out


BOUNDS = _bounds()
TYPED = [
    (name, path, rule)
    for name, spec in sorted(EVENTS.items())
    for path, rule in spec.rules()
    if rule.kind != "json"
]


def _verdicts(warehouse, tmp_path: Path, now, records: list[dict[str, Any]]) -> list[str | None]:
    path = write_jsonl(tmp_path / "records.jsonl", records)
    result = ingest_file(warehouse, path, now=now)
    assert result.lines == len(records)
    reasons = dict(warehouse.execute("select line, reason from raw.quarantine").fetchall())
    return [reasons.get(line) for line in range(1, len(records) + 1)]


def test_the_walk_reaches_nested_bounds():
    """The example of the issue: `memory.recorded`'s `source.trust_weight` is a 0-1 bound of the table."""
    nested = {(name, path, kind) for name, path, _, kind in BOUNDS if len(path) > 1}
    assert ("memory.recorded", ("source", "trust_weight"), "maximum") in nested
    assert ("memory.recorded", ("source", "trust_weight"), "minimum") in nested


@pytest.mark.parametrize(
    "name,path,rule,kind", BOUNDS, ids=[f"{n}:{'.'.join(p)}:{k}" for n, p, _, k in BOUNDS]
)
def test_each_bound_of_the_contract_is_enforced(tmp_path: Path, warehouse, now, name, path, rule, kind):
    """The bound itself is accepted; a value just past it is quarantined as out_of_range."""
    if kind == "choices":
        inside = list(rule.choices)
        outside = ["not-" + rule.choices[0], rule.choices[0].upper() + "!"]
    else:
        bound = rule.minimum if kind == "minimum" else rule.maximum
        step = 1 if rule.kind == "int" else 1e-6
        sign = -1 if kind == "minimum" else 1
        inside = [bound if rule.kind != "int" else int(bound)]
        outside = [bound + sign * step if rule.kind != "int" else int(bound) + sign]
    records = [_record(name, path, value, f"b{i}") for i, value in enumerate([*inside, *outside])]
    verdicts = _verdicts(warehouse, tmp_path, now, records)
    assert verdicts == [None] * len(inside) + [Reason.OUT_OF_RANGE] * len(outside)


@pytest.mark.parametrize("name,path,rule", TYPED, ids=[f"{n}:{'.'.join(p)}" for n, p, _ in TYPED])
def test_each_type_of_the_contract_is_enforced(tmp_path: Path, warehouse, now, name, path, rule):
    """A field of the contract holding a value of another type is quarantined as wrong_type."""
    records = [_record(name, path, _valid(rule), "ok"), _record(name, path, _WRONG[rule.kind], "bad")]
    assert _verdicts(warehouse, tmp_path, now, records) == [None, Reason.WRONG_TYPE]


def test_a_contact_link_naming_neither_a_client_nor_a_signal_misses_a_field(tmp_path: Path, warehouse, now):
    """`contact.linked` needs a client, a signal or both: with neither it is `missing_field`."""
    records = [
        event(f"l{i}", event_name="contact.linked", entity_type="contact", entity_id="contact-1", payload=p)
        for i, p in enumerate(
            [{"client_id": "c-1"}, {"signal_id": "s-1"}, {"client_id": "c-1", "signal_id": "s-1"}, {}]
        )
    ]
    assert _verdicts(warehouse, tmp_path, now, records) == [None, None, None, Reason.MISSING_FIELD]


def test_user_events_name_a_user_of_the_org_and_hostile_ones_are_quarantined(tmp_path: Path, warehouse, now):
    """`user.updated` / `user.erased` name the people `owner` and `actor` hold (extension): a good record is
    accepted; a name that is not text, an active flag that is not a boolean, a user event about a contact
    and a contact event about a user are each quarantined with their reason."""
    good = {"name": "Ann Archer", "email": "ann@acme.test", "title": "AE", "role": "seller", "active": True}
    user = {"event_name": "user.updated", "entity_type": "user", "entity_id": "ann@acme.test"}
    records = [
        event("u1", **user, payload=good),
        event("u2", event_name="user.erased", entity_type="user", entity_id="ann@acme.test", payload={}),
        event("u3", **user, payload={"name": {"first": "Ann"}}),
        event("u4", **user, payload={"active": "yes"}),
        event("u5", **{**user, "entity_type": "contact"}, payload=good),
        event("u6", event_name="contact.updated", entity_type="user", entity_id="ann", payload={"name": "A"}),
    ]
    assert _verdicts(warehouse, tmp_path, now, records) == [
        None,
        None,
        Reason.WRONG_TYPE,
        Reason.WRONG_TYPE,
        Reason.ENTITY_TYPE_MISMATCH,
        Reason.ENTITY_TYPE_MISMATCH,
    ]


def test_a_batch_holding_every_event_is_judged_by_the_statement_of_every_rule() -> None:
    """A batch is judged by the rules of the events it holds; one holding them all, by all of them (the
    same statement as before batches were cut to their events), and one holding two, by theirs alone."""
    from dagster_project.contract.events import EVENTS
    from dagster_project.ingestion.payload import _payload_sql, judged_sql

    assert judged_sql(frozenset(EVENTS)) == _payload_sql()
    two = sorted(EVENTS)[:2]
    cut = judged_sql(frozenset(two))
    assert all(f"'{event}'" in cut for event in two)
    assert not any(f"'{event}'" in cut for event in sorted(EVENTS)[2:])
    # A name outside the contract (the envelope refuses it) changes nothing.
    assert judged_sql([*two, "made.up"]) is cut
