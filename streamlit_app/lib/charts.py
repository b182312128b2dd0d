"""Plotly figure builders: frames in, figures out, no Streamlit, so they are unit-tested on their own.

Colours are fixed per entity type and per series so the same thing looks the same on every page.
"""

from __future__ import annotations

import datetime as dt

import plotly.graph_objects as go
import polars as pl

ENTITY_COLORS: dict[str, str] = {
    "signal": "#4C78A8",
    "candidate": "#F58518",
    "pursuit": "#54A24B",
    "client": "#B279A2",
    "org": "#9D755D",
}
FALLBACK_COLOR = "#8C8C8C"
ENTERED_COLOR = "#9ECAE9"
CONVERTED_COLOR = "#2F6FA8"
LOST_COLOR = "#D6604D"
MEDIAN_COLOR = "#4C78A8"
P90_COLOR = "#F2A65A"
QUARANTINE_COLOR = "#D6604D"

_MARGIN = {"l": 10, "r": 10, "t": 40, "b": 10}


def _count_axis(title: str, values: list[int | None]) -> dict:
    """An axis for counts: from zero, and no fractional ticks when the numbers are small."""
    axis: dict = {"title": {"text": title}, "rangemode": "tozero", "tickformat": ",d"}
    if max((v or 0 for v in values), default=0) <= 10:
        axis["dtick"] = 1
    return axis


def pair_label(from_stage: str, to_stage: str) -> str:
    """How a stage pair is named everywhere on screen."""
    return f"{from_stage} → {to_stage}"


def _empty(message: str) -> go.Figure:
    fig = go.Figure()
    fig.add_annotation(
        text=message, showarrow=False, font={"size": 14}, x=0.5, y=0.5, xref="paper", yref="paper"
    )
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    fig.update_layout(height=220, margin=_MARGIN)
    return fig


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time())


def events_over_time(df: pl.DataFrame, grain: str = "day") -> go.Figure:
    """Stacked bars of events per day or week, one colour per entity type, on a real time axis.

    Expects columns `period` (date; a week is its Monday), `entity_type`, `events`. The axis range and
    bar width are set from the grain so that a single day or week still gets a labelled bar.
    """
    if df.is_empty():
        return _empty("No events for these filters")
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
        "range": [_midnight(periods[0]) - step * 0.6, _midnight(periods[-1]) + step * 0.6],
        "tickformat": "%b %d",
    }
    if len(periods) <= 16:
        # Few bars: label each one rather than letting plotly pick in-between dates.
        xaxis["tickvals"] = periods
    totals = df.group_by("period").agg(pl.col("events").sum())["events"].to_list()
    fig.update_layout(
        barmode="stack",
        height=380,
        margin=_MARGIN,
        legend={
            "orientation": "h",
            "yanchor": "bottom",
            "y": 1.02,
            "x": 0,
            "title": {"text": "Entity type"},
            "traceorder": "normal",
        },
        xaxis=xaxis,
        yaxis=_count_axis("Events", totals),
    )
    return fig


def funnel_entered_converted(df: pl.DataFrame) -> go.Figure:
    """Entered vs converted per stage pair, in pair order top to bottom; `→ lost` pairs in red.

    Expects columns `from_stage`, `to_stage`, `entered`, `converted`, `conversion_rate`, in order.
    """
    if df.is_empty():
        return _empty("No funnel data")
    labels = [pair_label(f, t) for f, t in zip(df["from_stage"], df["to_stage"], strict=True)]
    lost = [t == "lost" for t in df["to_stage"]]
    rates = df.get_column("conversion_rate").to_list()
    rate_text = ["–" if r is None else f"{r:.0%}" for r in rates]
    converted = df.get_column("converted").to_list()

    fig = go.Figure()
    fig.add_trace(
        go.Bar(
            name="Entered",
            y=labels,
            x=df.get_column("entered").to_list(),
            orientation="h",
            offsetgroup="entered",
            marker_color=ENTERED_COLOR,
            hovertemplate="%{y}<br>entered: %{x:,}<extra></extra>",
        )
    )
    for is_lost, name, color in ((False, "Converted", CONVERTED_COLOR), (True, "Lost", LOST_COLOR)):
        idx = [i for i, flag in enumerate(lost) if flag is is_lost]
        if not idx:
            continue
        fig.add_trace(
            go.Bar(
                name=name,
                y=[labels[i] for i in idx],
                x=[converted[i] for i in idx],
                orientation="h",
                # Converted and lost share one slot so each pair shows exactly two bars.
                offsetgroup="converted",
                marker_color=color,
                text=[rate_text[i] for i in idx],
                textposition="outside",
                cliponaxis=False,
                hovertemplate="%{y}<br>" + name.lower() + ": %{x:,} (%{text})<extra></extra>",
            )
        )
    fig.update_layout(
        barmode="group",
        height=max(300, 46 * len(labels) + 80),
        margin=_MARGIN,
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0},
        xaxis=_count_axis("Items", df.get_column("entered").to_list()),
        yaxis={"categoryorder": "array", "categoryarray": labels, "autorange": "reversed"},
        bargap=0.25,
    )
    return fig


def funnel_hours(df: pl.DataFrame) -> go.Figure:
    """Median and p90 hours between the first entries of each stage pair, in pair order.

    Pairs without conversions have no durations and are left out.
    """
    timed = df.filter(pl.col("median_hours").is_not_null() | pl.col("p90_hours").is_not_null())
    if timed.is_empty():
        return _empty("No conversions yet, so no durations")
    labels = [pair_label(f, t) for f, t in zip(timed["from_stage"], timed["to_stage"], strict=True)]
    fig = go.Figure()
    for column, name, color in (("median_hours", "Median", MEDIAN_COLOR), ("p90_hours", "p90", P90_COLOR)):
        fig.add_trace(
            go.Bar(
                name=name,
                y=labels,
                x=timed.get_column(column).to_list(),
                orientation="h",
                marker_color=color,
                hovertemplate="%{y}<br>" + name + ": %{x:,.1f} h<extra></extra>",
            )
        )
    fig.update_layout(
        barmode="group",
        height=max(260, 40 * len(labels) + 80),
        margin=_MARGIN,
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0},
        xaxis={"title": {"text": "Hours"}, "rangemode": "tozero"},
        yaxis={"categoryorder": "array", "categoryarray": labels, "autorange": "reversed"},
        bargap=0.25,
    )
    return fig


def quarantine_by_reason(df: pl.DataFrame) -> go.Figure:
    """Quarantined records per reason code, largest at the top. Expects `reason`, `records`."""
    if df.is_empty():
        return _empty("Nothing quarantined")
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
        margin=_MARGIN,
        xaxis=_count_axis("Quarantined records", ordered.get_column("records").to_list()),
        yaxis={"categoryorder": "array", "categoryarray": reasons, "autorange": "reversed"},
        showlegend=False,
    )
    return fig
