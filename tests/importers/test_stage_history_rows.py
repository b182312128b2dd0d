"""One stage-history row, one outcome: the rule both vendor readers share (`Reading.stage_step`)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from dagster_project.importers.model import MAPPED, SKIPPED, UNMAPPED, Deal
from dagster_project.importers.reading import FUTURE, Reading
from dagster_project.importers.tables import Table

NOW = datetime(2026, 6, 1, tzinfo=UTC)
BEFORE = datetime(2026, 5, 1, tzinfo=UTC)
AFTER = datetime(2026, 7, 1, tzinfo=UTC)


def _reading(tmp_path: Path) -> tuple[Reading, Table, Deal]:
    table = Table("deal_stage.csv", tmp_path / "deal_stage.csv", ["deal_id", "value"])
    deal = Deal("hs-deal-1", "1", BEFORE, BEFORE)
    return Reading(tmp_path, "", ("deal_stage",), NOW), table, deal


def _step(reading: Reading, table: Table, deal: Deal | None, at: datetime | None, target: str | None):
    looked_up: list[str] = []

    def lookup() -> str | None:
        looked_up.append("x")
        return target

    reading.stage_step(table, 7, "deal_stage", "1", deal, at, (lookup, "raw-stage"), "deal")
    return reading.outcomes[-1], looked_up


def test_a_row_with_a_known_stage_becomes_a_step_on_its_deal(tmp_path: Path) -> None:
    reading, table, deal = _reading(tmp_path)
    outcome, _ = _step(reading, table, deal, BEFORE, "pink")
    assert outcome.outcome == MAPPED and (outcome.file, outcome.row) == ("deal_stage.csv", 7)
    assert [(s.at, s.target, s.stage_name) for s in deal.history] == [(BEFORE, "pink", "raw-stage")]


def test_a_row_whose_deal_is_not_imported_is_skipped_and_names_the_parent(tmp_path: Path) -> None:
    reading, table, _ = _reading(tmp_path)
    outcome, looked_up = _step(reading, table, None, BEFORE, "pink")
    assert (outcome.outcome, outcome.reason) == (SKIPPED, "its deal is not imported")
    assert looked_up == []


def test_a_row_without_a_date_or_dated_after_the_clock_is_skipped(tmp_path: Path) -> None:
    reading, table, deal = _reading(tmp_path)
    assert _step(reading, table, deal, None, "pink")[0].reason == "no readable date"
    assert _step(reading, table, deal, AFTER, "pink")[0].reason == FUTURE
    assert deal.history == []


def test_a_row_with_a_stage_the_map_does_not_name_is_unmapped_with_the_value(tmp_path: Path) -> None:
    reading, table, deal = _reading(tmp_path)
    outcome, _ = _step(reading, table, deal, BEFORE, None)
    assert (outcome.outcome, outcome.reason, outcome.value) == (
        UNMAPPED,
        "stage not in import.stage_map",
        "raw-stage",
    )
    assert deal.history == []
