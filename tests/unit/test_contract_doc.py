"""docs/contract.md and the code's contract (dagster_project/contract/events.py and the lifecycle rule codes)
say the same thing: every event, field, bound, reason code, rule code, SLA and public output."""

from __future__ import annotations

import re

import pytest

from dagster_project.config import registry as config
from dagster_project.contract import events as contract
from dagster_project.contract.states import Rule
from dagster_project.settings import DBT_PROJECT_DIR, PROJECT_ROOT

DOC = PROJECT_ROOT / "docs" / "contract.md"


def _section(title: str) -> str:
    text = DOC.read_text(encoding="utf-8")
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert match, f"docs/contract.md has no section '## {title}'"
    return match.group(1)


def _table(title: str) -> list[list[str]]:
    """The rows of the first table in a section, as cells (header and separator left out)."""
    rows = []
    for line in _section(title).splitlines():
        if not line.startswith("|"):
            if rows:
                break
            continue
        rows.append([cell.strip() for cell in re.split(r"(?<!\\)\|", line.strip())[1:-1]])
    assert len(rows) > 2, f"section '{title}' has no table"
    return rows[2:]


def _code(cell: str) -> str:
    """The first `code` span of a cell (names in the tables are written as code)."""
    match = re.search(r"`([^`]+)`", cell)
    assert match, f"no `name` in cell {cell!r}"
    return match.group(1)


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _bounds(rule: contract.FieldRule) -> str:
    """How the doc writes a field's allowed values or range."""
    if rule.choices:
        return " ".join(f"`{choice}`" for choice in rule.choices)
    if rule.minimum is not None and rule.maximum is not None:
        return f"{_number(rule.minimum)}–{_number(rule.maximum)}"
    if rule.minimum is not None:
        return f"≥ {_number(rule.minimum)}"
    if rule.maximum is not None:
        return f"≤ {_number(rule.maximum)}"
    return ""


def _module_fields() -> dict[tuple[str, str], contract.FieldRule]:
    """Every payload field of every event, nested ones by their dotted path."""
    found: dict[tuple[str, str], contract.FieldRule] = {}

    def walk(event: str, fields: dict[str, contract.FieldRule], prefix: str) -> None:
        for name, rule in fields.items():
            found[(event, prefix + name)] = rule
            walk(event, getattr(rule, "fields", None) or {}, f"{prefix}{name}.")

    for event, spec in contract.EVENTS.items():
        walk(event, spec.fields, "")
    return found


def _doc_fields() -> dict[tuple[str, str], list[str]]:
    rows = _table("Payload fields")
    found = {(_code(row[0]), _code(row[1])): row for row in rows}
    assert len(found) == len(rows), "a payload field is listed twice"
    return found


def test_the_doc_lists_exactly_the_events_of_the_contract_module():
    listed = [_code(row[0]) for row in _table("Events")]
    assert sorted(listed) == sorted(contract.EVENTS), "docs/contract.md and contract.EVENTS differ"
    assert len(listed) == len(set(listed)), "an event is listed twice"


def test_each_event_names_the_entity_types_the_module_allows():
    for row in _table("Events"):
        spec = contract.EVENTS[_code(row[0])]
        named = {t for t in contract.ENTITY_TYPES if re.search(rf"\b{t}\b", row[1])}
        assert named == set(spec.entity_types), f"{spec.name}: doc says {named}, module {spec.entity_types}"


def test_every_payload_field_of_the_module_is_in_the_doc_with_its_type_and_bounds():
    documented = _doc_fields()
    for (event, path), rule in _module_fields().items():
        row = documented.get((event, path))
        assert row is not None, f"docs/contract.md lacks payload field {event} {path}"
        assert _code(row[2]) == rule.kind, f"{event} {path}: type"
        assert row[3] == ("yes" if rule.required else "no"), f"{event} {path}: required"
        assert row[4] == _bounds(rule), f"{event} {path}: doc says {row[4]!r}, module {_bounds(rule)!r}"


def test_every_at_least_one_of_group_is_stated_in_the_doc():
    text = _section("Payload fields")
    for name, spec in contract.EVENTS.items():
        if spec.one_of:
            group = ", ".join(f"`{field}`" for field in spec.one_of[:-1]) + f" or `{spec.one_of[-1]}`"
            assert f"`{name}` needs {group}" in text.replace("\n", " "), name


def test_every_payload_field_the_doc_lists_exists_in_the_module():
    module = _module_fields()
    unknown = [key for key in _doc_fields() if key not in module]
    assert not unknown, f"docs/contract.md lists fields the contract module lacks: {unknown}"


def test_the_envelope_table_states_the_modules_fields_and_bounds():
    rows = {_code(row[0]): " | ".join(row[1:]) for row in _table("Envelope")}
    assert list(rows) == list(contract.ENVELOPE_FIELDS)
    for field in ("event_id", "entity_id"):
        assert f"1–{contract.MAX_ID_LENGTH} characters" in rows[field]
    assert f"`{contract.ORG_ID_PATTERN}`" in rows["org_id"]
    assert f"{contract.FUTURE_TOLERANCE_SECONDS // 60} minutes" in rows["occurred_at"]
    assert re.findall(r"`(\w+)`", rows["entity_type"]) == list(contract.ENTITY_TYPES)


def test_the_doc_lists_exactly_the_quarantine_reason_codes():
    listed = [_code(row[0]) for row in _table("Quarantine reason codes")]
    assert sorted(listed) == sorted(contract.Reason.all())


def test_the_doc_lists_exactly_the_lifecycle_rule_codes():
    listed = [_code(row[0]) for row in _table("Lifecycle")]
    assert sorted(listed) == sorted(Rule.all())


def test_the_sla_table_gives_each_metrics_default_threshold():
    thresholds = {_code(row[0]): float(row[-1]) for row in _table("SLAs")}
    assert thresholds == {metric: float(hours) for metric, hours in config.SLA_THRESHOLD_HOURS.items()}


def _mart_models() -> set[str]:
    return {path.stem for path in (DBT_PROJECT_DIR / "models" / "marts").rglob("*.sql")}


def test_every_dbt_mart_is_a_documented_public_output():
    listed = {_code(row[0]) for row in _table("Public outputs")}
    missing = sorted(_mart_models() - listed)
    assert not missing, f"docs/contract.md lacks public outputs: {missing}"


def test_every_documented_public_output_is_built_or_published():
    published_by_code = "\n".join(
        path.read_text(encoding="utf-8") for path in (PROJECT_ROOT / "dagster_project").rglob("*.py")
    )
    for row in _table("Public outputs"):
        name = _code(row[0])
        assert name in _mart_models() or re.search(rf"\b{name}\b", published_by_code), (
            f"{name} is documented but neither a dbt mart nor written by the publish step"
        )


@pytest.mark.parametrize("pair", contract.FUNNEL_STAGE_PAIRS, ids="-".join)
def test_the_doc_names_every_funnel_stage_pair(pair):
    assert f"(`{pair[0]}`, `{pair[1]}`)" in _section("Public outputs")


def _utc_text(moment) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def test_the_limits_table_states_the_modules_limits():
    limits = " | ".join(" | ".join(row) for row in _table("Limits"))
    assert f"1–{contract.MAX_ID_LENGTH} characters" in limits
    assert f"{contract.FUTURE_TOLERANCE_SECONDS // 60} minutes" in limits
    assert f"{contract.MAX_NESTING} levels" in limits
    assert f"from {contract.MIN_INTEGER} to {contract.MAX_INTEGER}" in limits
    earliest, latest = _utc_text(contract.EARLIEST_TIMESTAMP), _utc_text(contract.LATEST_TIMESTAMP)
    assert f"from {earliest} to {latest}" in limits
