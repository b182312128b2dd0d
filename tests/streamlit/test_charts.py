"""`lib/charts/` builders on small frames: trace layout, ordering and empty inputs."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from streamlit_app.lib.charts import common as common_charts
from streamlit_app.lib.charts import gates as gates_charts
from streamlit_app.lib.charts import overview as overview_charts
from streamlit_app.lib.charts import pipeline as pipeline_charts
from streamlit_app.lib.charts import sla as sla_charts
from streamlit_app.lib.charts import today as today_charts

FUNNEL = pl.DataFrame(
    {
        "pair_order": [1, 2, 3],
        "from_stage": ["signal", "qual", "qual"],
        "to_stage": ["candidate", "pink", "lost"],
        "entered": [10, 4, 4],
        "converted": [5, 0, 1],
        "conversion_rate": [0.5, 0.0, 0.25],
        "median_hours": [2.0, None, 30.0],
        "p90_hours": [8.0, None, 30.0],
    }
)

COUNTS = pl.DataFrame(
    {
        "entity_type": ["signal", "signal", "candidate", "pursuit", "pursuit"],
        "state": ["open", "linked", "new", "won", "won"],
        "owner": ["ann", "—", "bob", "ann", "bob"],
        "entities": [3, 1, 2, 1, 4],
    }
)
GATES = pl.DataFrame(
    {
        "gate": ["pink", "red"],
        "attempts": [4, 0],
        "passed": [3, 0],
        "pass_rate": [0.75, None],
        "health_line": [0.8, 0.8],
        "below_health_line": [True, False],
    }
)
WIN_LOSS = pl.DataFrame(
    {
        "outcome": ["won", "lost", "lost"],
        "reason_code": ["price", "missing", "no_decision"],
        "pursuits": [5, 9, 2],
    }
)


def test_events_over_time_stacks_one_trace_per_entity_type() -> None:
    df = pl.DataFrame(
        {
            "period": [dt.date(2024, 5, 1), dt.date(2024, 5, 1), dt.date(2024, 5, 2), dt.date(2024, 5, 2)],
            "entity_type": ["candidate", "signal", "signal", "mystery"],
            "events": [2, 5, 3, 1],
        }
    )
    fig = overview_charts.events_over_time(df, "week")
    assert fig.layout.barmode == "stack"
    assert [t.name for t in fig.data] == ["signal", "candidate", "mystery"]
    assert fig.data[0].marker.color == common_charts.ENTITY_COLORS["signal"]
    assert fig.data[2].marker.color == common_charts.FALLBACK_COLOR
    assert sum(sum(t.y) for t in fig.data) == 11
    assert fig.layout.xaxis.title.text == "Week starting (Monday)"
    assert list(fig.layout.xaxis.tickvals) == [dt.date(2024, 5, 1), dt.date(2024, 5, 2)]
    fig.to_json()


def test_funnel_chart_keeps_pair_order_and_separates_losses() -> None:
    fig = pipeline_charts.funnel_entered_converted(FUNNEL)
    labels = ["signal → candidate", "qual → pink", "qual → lost (at qual or later)"]
    assert list(fig.layout.yaxis.categoryarray) == labels
    by_name = {t.name: t for t in fig.data}
    assert list(by_name["Entered"].y) == labels
    assert list(by_name["Converted"].y) == labels[:2]
    assert list(by_name["Converted"].text) == ["50%", "0%"]
    lost = by_name["Lost (at that stage or later)"]
    assert list(lost.y) == ["qual → lost (at qual or later)"]
    assert by_name["Converted"].offsetgroup == lost.offsetgroup
    fig.to_json()


def test_funnel_hours_skips_pairs_without_durations() -> None:
    fig = pipeline_charts.funnel_hours(FUNNEL)
    assert [t.name for t in fig.data] == ["Median", "p90"]
    assert list(fig.data[0].y) == ["signal → candidate", "qual → lost (at qual or later)"]
    assert list(fig.data[1].x) == [8.0, 30.0]


def test_quarantine_by_reason_sorted_largest_first() -> None:
    fig = overview_charts.quarantine_by_reason(
        pl.DataFrame({"reason": ["a", "b", "c"], "records": [1, 5, 5]})
    )
    assert list(fig.data[0].y) == ["b", "c", "a"]
    assert fig.layout.xaxis.dtick == 1


SLA_WEEKLY = pl.DataFrame(
    {
        "metric": ["response", "triage", "triage"],
        "week_start": [dt.date(2024, 5, 6), dt.date(2024, 5, 6), dt.date(2024, 4, 29)],
        "eligible_items": [2, 4, 10],
        "breached_items": [2, 0, 1],
        "compliance_pct": [0.0, 100.0, 90.0],
    }
)


@pytest.mark.parametrize(
    ("builder", "frame"),
    [
        (
            overview_charts.events_over_time,
            pl.DataFrame(schema={"period": pl.Date, "entity_type": pl.String, "events": pl.Int64}),
        ),
        (pipeline_charts.funnel_entered_converted, FUNNEL.clear()),
        (pipeline_charts.funnel_hours, FUNNEL.clear()),
        (
            overview_charts.quarantine_by_reason,
            pl.DataFrame(schema={"reason": pl.String, "records": pl.Int64}),
        ),
        (pipeline_charts.entities_by_state, COUNTS.clear()),
        (pipeline_charts.entities_by_owner, COUNTS.clear()),
        (gates_charts.gate_pass_rates, GATES.clear()),
        (pipeline_charts.win_loss, WIN_LOSS.clear()),
        (today_charts.owner_workload, pl.DataFrame(schema={"owner": pl.String, "total_items": pl.Int64})),
        (lambda df: sla_charts.sla_compliance_weekly(df, 5.0), SLA_WEEKLY.clear()),
        (
            pipeline_charts.pipeline_health,
            pl.DataFrame(schema={"stage": pl.String, "open_pursuits": pl.Int64}),
        ),
        (pipeline_charts.win_rate_monthly, pl.DataFrame(schema={"month_start": pl.Date, "won": pl.Int64})),
    ],
)
def test_empty_frames_give_a_labelled_empty_figure(builder, frame: pl.DataFrame) -> None:
    fig = builder(frame)
    assert not fig.data
    assert fig.layout.annotations and fig.layout.annotations[0].text


def test_entities_by_state_keeps_frame_order_and_sums_owners() -> None:
    fig = pipeline_charts.entities_by_state(COUNTS)
    assert [t.name for t in fig.data] == ["signal", "candidate", "pursuit"]
    assert list(fig.layout.yaxis.categoryarray) == [
        "signal · open",
        "signal · linked",
        "candidate · new",
        "pursuit · won",
    ]
    assert list(fig.data[2].x) == [5]
    assert fig.data[0].marker.color == common_charts.ENTITY_COLORS["signal"]
    fig.to_json()


def test_entities_by_owner_stacks_types_and_puts_unassigned_last() -> None:
    fig = pipeline_charts.entities_by_owner(COUNTS, "—")
    assert fig.layout.barmode == "stack"
    assert list(fig.layout.yaxis.categoryarray) == ["bob", "ann", "unassigned"]
    pursuit = next(t for t in fig.data if t.name == "pursuit")
    assert list(pursuit.x) == [4, 1, 0]


def test_gate_chart_draws_the_health_line_and_flags_gates_below_it() -> None:
    fig = gates_charts.gate_pass_rates(GATES)
    (line,) = fig.layout.shapes
    assert line.y0 == line.y1 == 0.8
    assert line.line.dash == "dash"
    assert fig.layout.annotations[0].text == "80% health line"
    bar = fig.data[0]
    assert list(bar.text) == ["75% (3/4)", "no attempts"]
    assert list(bar.marker.color) == [gates_charts.UNHEALTHY_COLOR, gates_charts.HEALTHY_COLOR]
    assert fig.layout.yaxis.tickformat == ".0%"
    fig.to_json()


def test_win_loss_names_missing_reasons_and_puts_them_last() -> None:
    fig = pipeline_charts.win_loss(WIN_LOSS)
    labels = list(fig.layout.yaxis.categoryarray)
    assert labels == ["price", "no decision", "missing (no reason given)"]
    by_name = {t.name: t for t in fig.data}
    assert list(by_name["lost"].y) == ["no decision", "missing (no reason given)"]
    assert list(by_name["lost"].x) == [2, 9]
    assert by_name["won"].marker.color == pipeline_charts.OUTCOME_COLORS["won"]


def _lines(fig) -> list:
    return [t for t in fig.data if t.type == "scatter" and "lines" in t.mode]


def test_sla_weekly_one_line_per_metric_against_the_95_percent_line() -> None:
    fig = sla_charts.sla_compliance_weekly(SLA_WEEKLY, 5.0, min_eligible=1)
    assert [t.name for t in _lines(fig)] == ["triage", "response"]  # contract order, not frame order
    assert [str(d) for d in _lines(fig)[0].x] == ["2024-04-29", "2024-05-06"]
    (line,) = [s for s in fig.layout.shapes if s.yref == "y"]
    assert line.y0 == line.y1 == 95
    assert fig.layout.yaxis.range[0] < 0  # a 0 % week stays on the chart


def test_sla_weekly_shows_each_weeks_count_and_marks_weeks_under_the_minimum_sample() -> None:
    weekly = pl.DataFrame(
        {
            "metric": ["triage"] * 3,
            "week_start": [dt.date(2024, 4, 22), dt.date(2024, 4, 29), dt.date(2024, 5, 6)],
            "eligible_items": [20, 1, 12],
            "breached_items": [1, 1, 0],
            "compliance_pct": [95.0, 0.0, 100.0],
        }
    )
    fig = sla_charts.sla_compliance_weekly(weekly, 5.0, min_eligible=5)
    (line,) = _lines(fig)
    # The one-clock week is not part of the line (no plunge to 0 %) ...
    assert list(line.y) == [95.0, None, 100.0] and line.connectgaps
    # ... but is on the chart, hollow, with its count, and says why in its hover.
    (small,) = [t for t in fig.data if t.name == "triage: under 5 eligible"]
    assert [str(d) for d in small.x] == ["2024-04-29"] and list(small.y) == [0.0]
    assert small.marker.symbol == "circle-open" and list(small.text) == ["n=1"]
    assert list(small.customdata) == ["1 of 1 breached; under 5 eligible"]
    # Every week's count is drawn below, against the minimum sample.
    (bars,) = [t for t in fig.data if t.type == "bar"]
    assert list(bars.y) == [20, 1, 12] and bars.yaxis == "y2"
    (minimum,) = [s for s in fig.layout.shapes if s.yref == "y2"]
    assert minimum.y0 == minimum.y1 == 5
    fig.to_json()


def test_win_rate_monthly_keeps_months_with_few_closes_off_the_line_and_marks_them() -> None:
    months = pl.DataFrame(
        {
            "month_start": [dt.date(2024, 3, 1), dt.date(2024, 4, 1), dt.date(2024, 5, 1)],
            "won": [4, 0, 3],
            "lost": [2, 1, 3],
            "win_rate": [4 / 6, 0.0, 0.5],
        }
    )
    fig = pipeline_charts.win_rate_monthly(months, min_closed=5)
    (line,) = [t for t in fig.data if t.name == "win rate"]
    assert list(line.y) == [4 / 6, None, 0.5] and line.connectgaps
    (small,) = [t for t in fig.data if t.name == "win rate: under 5 closed"]
    assert [str(d) for d in small.x] == ["2024-04-01"] and list(small.y) == [0.0]
    assert small.marker.symbol == "circle-open" and list(small.text) == ["n=1"] and small.yaxis == "y2"
    # The rate's own ticks (quarters), not ones lined up with the counts' gridlines.
    assert fig.layout.yaxis2.tickmode == "array" and list(fig.layout.yaxis2.tickvals) == [
        0,
        0.25,
        0.5,
        0.75,
        1,
    ]
    fig.to_json()
