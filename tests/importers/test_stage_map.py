"""`import.stage_map`: the per-org key the importers read stage names through."""

from __future__ import annotations

import pytest

from dagster_project.config.import_stages import DEFAULT_STAGE_MAP, STAGE_TARGETS
from dagster_project.config.registry import DEFAULTS, validate_change


def test_the_default_stage_map_covers_the_stock_pipelines_of_both_vendors() -> None:
    assert DEFAULTS["import.stage_map"] == DEFAULT_STAGE_MAP
    assert DEFAULT_STAGE_MAP["salesforce"]["Closed Won"] == "won"
    assert DEFAULT_STAGE_MAP["hubspot"]["closedlost"] == "lost"
    for stages in DEFAULT_STAGE_MAP.values():
        assert set(stages.values()) <= set(STAGE_TARGETS)


def test_an_org_may_map_its_own_stage_names() -> None:
    verdict = validate_change(
        {"key": "import.stage_map", "value": {"salesforce": {"Discovery": "candidate"}}}
    )
    assert verdict.ok


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ({"pipedrive": {}}, "unknown vendors pipedrive"),
        ({"salesforce": {"Discovery": "maybe"}}, "unknown targets maybe"),
        ({"salesforce": {"Won": "won", "won": "won"}}, "names a stage twice"),
        (["Closed Won"], "must be an object"),
    ],
)
def test_a_bad_stage_map_is_refused_with_what_is_wrong(value: object, problem: str) -> None:
    verdict = validate_change({"key": "import.stage_map", "value": value})
    assert not verdict.ok
    assert problem in (verdict.detail or "")
