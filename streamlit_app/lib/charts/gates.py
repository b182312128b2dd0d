"""Figure of the Quality gates page: pass rate per gate against the health line."""

from __future__ import annotations

import plotly.graph_objects as go
import polars as pl

from streamlit_app.lib.charts.common import HEALTH_LINE_COLOR, MARGIN, empty_figure

HEALTHY_COLOR = "#54A24B"
UNHEALTHY_COLOR = "#D6604D"


def gate_pass_rates(df: pl.DataFrame) -> go.Figure:
    """Pass rate per gate against the org's health line (dashed); bars under it in red, gates without
    attempts labelled instead of drawn.

    Expects columns `gate`, `attempts`, `passed`, `pass_rate` (0–1 or null), `health_line` (the org's
    `health.gate_pass_rate`, as the mart judged it) and `below_health_line`.
    """
    if df.is_empty():
        return empty_figure("No gate attempts yet")
    health_line = df.get_column("health_line")[0]
    gates = df.get_column("gate").to_list()
    rates = df.get_column("pass_rate").to_list()
    below = df.get_column("below_health_line").to_list()
    text = [
        "no attempts" if r is None else f"{r:.0%} ({p:,}/{a:,})"
        for r, p, a in zip(rates, df["passed"], df["attempts"], strict=True)
    ]
    fig = go.Figure(
        go.Bar(
            x=gates,
            y=[0 if r is None else r for r in rates],
            marker_color=[UNHEALTHY_COLOR if b else HEALTHY_COLOR for b in below],
            text=text,
            textposition="outside",
            cliponaxis=False,
            customdata=text,
            hovertemplate="%{x} gate: %{customdata}<extra></extra>",
        )
    )
    fig.add_hline(
        y=health_line,
        line_dash="dash",
        line_color=HEALTH_LINE_COLOR,
        annotation_text=f"{health_line:.0%} health line",
        annotation_position="top left",
    )
    fig.update_layout(
        height=340,
        margin=MARGIN,
        showlegend=False,
        xaxis={"title": {"text": "Gate"}, "type": "category"},
        yaxis={"title": {"text": "Pass rate"}, "range": [0, 1.15], "tickformat": ".0%"},
        bargap=0.5,
    )
    return fig
