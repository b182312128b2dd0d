"""`lib/views/` for the lifecycle and SLA pages: query results in, what the page shows out."""

from __future__ import annotations

import polars as pl

from streamlit_app.lib.views import pipeline as pipeline_view
from streamlit_app.lib.views import sla as sla_view


def _funnel() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "from_stage": ["signal", "qual", "submit"],
            "to_stage": ["candidate", "lost", "won"],
            "entered": [10, 4, 0],
            "converted": [5, 1, 0],
            "conversion_rate": [0.5, 0.25, None],
            "median_hours": [12.25, None, None],
            "p90_hours": [30.0, None, None],
        }
    )


def test_a_funnel_pair_is_found_by_its_stages_or_is_none() -> None:
    row = pipeline_view.pair_row(_funnel(), "signal", "candidate")
    assert row is not None and row["converted"] == 5
    assert pipeline_view.pair_row(_funnel(), "candidate", "promoted") is None


def test_a_pair_without_entries_or_conversions_reads_as_a_dash() -> None:
    funnel = _funnel()
    assert pipeline_view.rate_text(pipeline_view.pair_row(funnel, "signal", "candidate")) == "50%"
    assert pipeline_view.hours_text(pipeline_view.pair_row(funnel, "signal", "candidate")) == "12.2 h"
    assert pipeline_view.rate_text(pipeline_view.pair_row(funnel, "submit", "won")) == "—"
    assert pipeline_view.hours_text(pipeline_view.pair_row(funnel, "qual", "lost")) == "—"
    assert pipeline_view.rate_text(None) == "—"
    assert pipeline_view.hours_text(None) == "—"


def test_the_funnel_table_names_each_pair_as_the_charts_do() -> None:
    table = pipeline_view.funnel_table(_funnel())
    assert table.columns == ["pair", "entered", "converted", "conversion_rate", "median_hours", "p90_hours"]
    assert table["pair"].to_list() == ["signal → candidate", "qual → lost (at qual or later)", "submit → won"]


def test_an_entity_key_survives_ids_that_hold_the_separator() -> None:
    key = pipeline_view.entity_key("pursuit", "crm:p-1")
    assert pipeline_view.parse_entity_key(key) == ("pursuit", "crm:p-1")


def test_entity_choices_keep_list_order_and_show_a_dash_for_no_label() -> None:
    entities = pl.DataFrame(
        {
            "entity_type": ["pursuit", "signal"],
            "entity_id": ["p-1", "s-1"],
            "state": ["pink", "open"],
            "label": ["Roof survey", None],
        }
    )
    assert pipeline_view.entity_choices(entities) == {
        "pursuit:p-1": "Roof survey · Pursuit p-1 (Pink review)",
        "signal:s-1": "— · Signal s-1 (Open)",
    }


def test_the_state_filter_knows_each_states_entity_type() -> None:
    states = {"signal": ["open"], "candidate": ["new", "triaged"], "pursuit": []}
    assert pipeline_view.state_types(states) == {"open": "signal", "new": "candidate", "triaged": "candidate"}


def test_counts_per_entity_type_sum_states_and_owners() -> None:
    counts = pl.DataFrame(
        {
            "entity_type": ["signal", "signal", "pursuit"],
            "state": ["open", "open", "qual"],
            "entities": [2, 3, 4],
        }
    )
    assert pipeline_view.entities_per_type(counts) == {"signal": 5, "pursuit": 4}


def test_the_timeline_tally_lists_every_outcome_in_order() -> None:
    timeline = pl.DataFrame({"outcome": ["rejected", "applied", "applied"]})
    assert pipeline_view.outcome_counts(timeline) == {
        "applied": 2,
        "warned": 0,
        "rejected": 1,
        "no state change": 0,
    }


def test_win_loss_totals_keep_unknown_values_unknown() -> None:
    rows = pl.DataFrame(
        {
            "outcome": ["won", "won", "lost"],
            "reason_code": ["price", "missing", "missing"],
            "pursuits": [3, 1, 2],
            "value_usd": [100.0, 50.0, None],
        }
    )
    assert pipeline_view.outcome_total(rows, "won", "pursuits") == 4
    assert pipeline_view.outcome_total(rows, "won", "value_usd") == 150.0
    assert pipeline_view.outcome_total(rows, "lost", "value_usd") is None
    assert pipeline_view.missing_reasons(rows) == 3
    assert pipeline_view.win_rate(4, 2) == 4 / 6
    assert pipeline_view.win_rate(0, 0) is None
    assert pipeline_view.win_loss_table(rows)["reason_code"].to_list() == [
        "price",
        "missing (no reason given)",
        "missing (no reason given)",
    ]


def test_breaches_started_under_another_threshold_are_listed_once_with_then_and_now() -> None:
    summary = pl.DataFrame({"metric": ["triage", "proposal"], "threshold_hours": [24.0, None]})
    breaches = pl.DataFrame(
        {
            "metric": ["triage", "triage", "triage", "proposal", "response"],
            "threshold_hours": [48.0, 48.0, 24.0, 72.0, 10.0],
        }
    )
    assert sla_view.earlier_thresholds(summary, breaches) == [("triage", 48.0, 24.0)]
