"""dbt/seeds/*.csv are generated from the contract module: SQL reads the vocabularies, never a copy."""

from __future__ import annotations

import csv
import io

import pytest

from dagster_project.contract import events, seeds, states


def _rows(name: str) -> list[dict[str, str]]:
    text = (seeds.SEEDS_DIR / f"{name}.csv").read_text(encoding="utf-8")
    return list(csv.DictReader(io.StringIO(text)))


def test_the_committed_seeds_equal_the_generated_ones():
    assert seeds.stale() == [], "dbt/seeds is stale: run python -m dagster_project.contract.seeds"


def test_the_pursuit_stages_seed_lists_the_contracts_stages_in_order_with_the_closed_ones_marked():
    rows = _rows("pursuit_stages")
    assert [r["stage"] for r in rows] == list(events.PURSUIT_STAGES)
    assert [int(r["stage_order"]) for r in rows] == list(range(1, len(events.PURSUIT_STAGES) + 1))
    assert {r["stage"] for r in rows if r["is_open"] == "false"} == set(states.PURSUIT_CLOSED)


def test_the_candidate_states_seed_marks_archived_and_promoted_closed():
    rows = _rows("candidate_states")
    assert [r["state"] for r in rows] == list(states.CANDIDATE_STATES)
    assert {r["state"] for r in rows if r["is_open"] == "false"} == set(states.CANDIDATE_CLOSED)


def test_the_funnel_pairs_seed_follows_the_contracts_display_order():
    rows = _rows("funnel_stage_pairs")
    assert [(r["from_stage"], r["to_stage"]) for r in rows] == list(events.FUNNEL_STAGE_PAIRS)
    assert [r["item_type"] for r in rows][:2] == ["signal", "candidate"]
    assert {r["item_type"] for r in rows[2:]} == {"pursuit"}


def test_the_reason_codes_seed_lists_the_contracts_codes():
    assert [r["reason_code"] for r in _rows("reason_codes")] == list(events.REASON_CODES)


def test_a_contract_change_makes_the_committed_seeds_stale(monkeypatch):
    monkeypatch.setattr(seeds, "REASON_CODES", (*events.REASON_CODES, "budget"))
    assert seeds.stale() == ["reason_codes.csv"]


def test_a_funnel_stage_of_no_known_item_type_stops_the_generator(monkeypatch):
    monkeypatch.setattr(seeds, "FUNNEL_STAGE_PAIRS", (("lead", "candidate"),))
    with pytest.raises(ValueError, match="lead"):
        seeds.render()


def test_the_check_mode_reports_a_stale_or_missing_seed(tmp_path):
    assert seeds.main(["--check", "--out", str(tmp_path)]) == 1  # nothing written yet
    assert seeds.main(["--out", str(tmp_path)]) == 0
    assert seeds.main(["--check", "--out", str(tmp_path)]) == 0
    (tmp_path / "pursuit_stages.csv").write_text("stage\nqual\n", encoding="utf-8")
    assert seeds.main(["--check", "--out", str(tmp_path)]) == 1
