"""The shared palette and helpers of the figure builders (axes, empty-state figure, date padding)."""

from __future__ import annotations

import datetime as dt

import plotly.graph_objects as go

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
HEALTH_LINE_COLOR = "#444444"
# A rate over fewer items than this (a week's eligible clocks, a month's closed pursuits) is shown, but
# marked and kept off its line: one item makes a period read 0 % or 100 %.
MIN_SAMPLE = 5

MARGIN = {"l": 10, "r": 10, "t": 40, "b": 10}


def top_legend(title: str | None = None, *, keep_trace_order: bool = False) -> dict:
    """The horizontal legend every chart puts above its plot, left-aligned; `keep_trace_order` keeps the
    traces' order (stacked bars otherwise list their legend bottom-up)."""
    legend: dict = {"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0}
    if title is not None:
        legend["title"] = {"text": title}
    if keep_trace_order:
        legend["traceorder"] = "normal"
    return legend


def count_axis(title: str, values: list[int | None]) -> dict:
    """An axis for counts: from zero, and no fractional ticks when the numbers are small."""
    axis: dict = {"title": {"text": title}, "rangemode": "tozero", "tickformat": ",d"}
    if max((v or 0 for v in values), default=0) <= 10:
        axis["dtick"] = 1
    return axis


def empty_figure(message: str) -> go.Figure:
    """A blank figure that says why there is nothing to draw, instead of empty axes."""
    fig = go.Figure()
    fig.add_annotation(
        text=message, showarrow=False, font={"size": 14}, x=0.5, y=0.5, xref="paper", yref="paper"
    )
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    fig.update_layout(height=220, margin=MARGIN)
    return fig


def midnight(day: dt.date) -> dt.datetime:
    """A date as a datetime, so an axis range can be padded by fractions of a day."""
    return dt.datetime.combine(day, dt.time())
