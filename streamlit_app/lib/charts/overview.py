"""Figures of the Overview (events over time) and Data quality (quarantine per reason) pages."""

from __future__ import annotations

import datetime as dt

import plotly.graph_objects as go
import polars as pl

from streamlit_app.lib.charts.common import (
    ENTITY_COLORS,
    FALLBACK_COLOR,
    MARGIN,
    QUARANTINE_COLOR,
    count_axis,
    empty_figure,
    midnight,
    top_legend,
)


def events_over_time(df: pl.DataFrame, grain: str = "day") -> go.Figure:
    """Stacked bars of events per day or week, one colour per entity type, on a real time axis.

    Expects columns `period` (date; a week is its Monday), `entity_type`, `events`. The axis range and
    bar width are set from the grain so that a single day or week still gets a labelled bar.
    """
    if df.is_empty():
        return empty_figure("No events for these filters")
    step = dt.timedelta(days=7 if grain == "week" else 1)
    periods = sorted(set(df.get_column("period").to_list()))
    fig = go.Figure()
    present = set(df.get_column("entity_type").to_list())
    known = [t for t in ENTITY_COLORS if t in present]
    for entity_type in known + sorted(present - set(known)):
        part = df.filter(pl.col("entity_type") == entity_type).sort("period")
        fig.add_trace(
            go.Bar(
                name=entity_type,
                x=part.get_column("period").to_list(),
                y=part.get_column("events").to_list(),
                width=step.total_seconds() * 1000 * 0.8,
                marker_color=ENTITY_COLORS.get(entity_type, FALLBACK_COLOR),
                hovertemplate=f"{entity_type}<br>%{{x|%Y-%m-%d}}: %{{y:,}} events<extra></extra>",
            )
        )
    xaxis: dict = {
        "title": {"text": "Week starting (Monday)" if grain == "week" else "Day"},
        "type": "date",
        # Datetimes, not dates: date arithmetic would drop the fractional-day padding.
        "range": [midnight(periods[0]) - step * 0.6, midnight(periods[-1]) + step * 0.6],
        "tickformat": "%b %d",
    }
    if len(periods) <= 16:
        # Few bars: label each one rather than letting plotly pick in-between dates.
        xaxis["tickvals"] = periods
    totals = df.group_by("period").agg(pl.col("events").sum())["events"].to_list()
    fig.update_layout(
        barmode="stack",
        height=380,
        margin=MARGIN,
        legend=top_legend("Entity type", keep_trace_order=True),
        xaxis=xaxis,
        yaxis=count_axis("Events", totals),
    )
    return fig


def quarantine_by_reason(df: pl.DataFrame) -> go.Figure:
    """Quarantined records per reason code, largest at the top. Expects `reason`, `records`."""
    if df.is_empty():
        return empty_figure("Nothing quarantined")
    ordered = df.sort(["records", "reason"], descending=[True, False])
    reasons = ordered.get_column("reason").to_list()
    fig = go.Figure(
        go.Bar(
            y=reasons,
            x=ordered.get_column("records").to_list(),
            orientation="h",
            marker_color=QUARANTINE_COLOR,
            text=ordered.get_column("records").to_list(),
            textposition="outside",
            cliponaxis=False,
            hovertemplate="%{y}: %{x:,} records<extra></extra>",
        )
    )
    fig.update_layout(
        height=max(220, 36 * len(reasons) + 80),
        margin=MARGIN,
        xaxis=count_axis("Quarantined records", ordered.get_column("records").to_list()),
        yaxis={"categoryorder": "array", "categoryarray": reasons, "autorange": "reversed"},
        showlegend=False,
    )
    return fig
