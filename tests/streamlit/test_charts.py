"""`lib/charts.py` builders on small frames: trace layout, ordering and empty inputs."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from streamlit_app.lib import charts

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


def test_events_over_time_stacks_one_trace_per_entity_type() -> None:
    df = pl.DataFrame(
        {
            "period": [dt.date(2024, 5, 1), dt.date(2024, 5, 1), dt.date(2024, 5, 2), dt.date(2024, 5, 2)],
            "entity_type": ["candidate", "signal", "signal", "mystery"],
            "events": [2, 5, 3, 1],
        }
    )
    fig = charts.events_over_time(df, "week")
    assert fig.layout.barmode == "stack"
    assert [t.name for t in fig.data] == ["signal", "candidate", "mystery"]
    assert fig.data[0].marker.color == charts.ENTITY_COLORS["signal"]
    assert fig.data[2].marker.color == charts.FALLBACK_COLOR
    assert sum(sum(t.y) for t in fig.data) == 11
    assert fig.layout.xaxis.title.text == "Week starting (Monday)"
    assert list(fig.layout.xaxis.tickvals) == [dt.date(2024, 5, 1), dt.date(2024, 5, 2)]
    fig.to_json()


def test_funnel_chart_keeps_pair_order_and_separates_losses() -> None:
    fig = charts.funnel_entered_converted(FUNNEL)
    labels = ["signal → candidate", "qual → pink", "qual → lost"]
    assert list(fig.layout.yaxis.categoryarray) == labels
    by_name = {t.name: t for t in fig.data}
    assert list(by_name["Entered"].y) == labels
    assert list(by_name["Converted"].y) == labels[:2]
    assert list(by_name["Converted"].text) == ["50%", "0%"]
    assert list(by_name["Lost"].y) == ["qual → lost"]
    assert by_name["Converted"].offsetgroup == by_name["Lost"].offsetgroup
    fig.to_json()


def test_funnel_hours_skips_pairs_without_durations() -> None:
    fig = charts.funnel_hours(FUNNEL)
    assert [t.name for t in fig.data] == ["Median", "p90"]
    assert list(fig.data[0].y) == ["signal → candidate", "qual → lost"]
    assert list(fig.data[1].x) == [8.0, 30.0]


def test_quarantine_by_reason_sorted_largest_first() -> None:
    fig = charts.quarantine_by_reason(pl.DataFrame({"reason": ["a", "b", "c"], "records": [1, 5, 5]}))
    assert list(fig.data[0].y) == ["b", "c", "a"]
    assert fig.layout.xaxis.dtick == 1


@pytest.mark.parametrize(
    ("builder", "frame"),
    [
        (
            charts.events_over_time,
            pl.DataFrame(schema={"period": pl.Date, "entity_type": pl.String, "events": pl.Int64}),
        ),
        (charts.funnel_entered_converted, FUNNEL.clear()),
        (charts.funnel_hours, FUNNEL.clear()),
        (charts.quarantine_by_reason, pl.DataFrame(schema={"reason": pl.String, "records": pl.Int64})),
    ],
)
def test_empty_frames_give_a_labelled_empty_figure(builder, frame: pl.DataFrame) -> None:
    fig = builder(frame)
    assert not fig.data
    assert fig.layout.annotations and fig.layout.annotations[0].text
