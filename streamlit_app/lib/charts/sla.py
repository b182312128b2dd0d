"""Figure of the SLA compliance page: weekly compliance per metric against the health line."""

from __future__ import annotations

import datetime as dt

import plotly.graph_objects as go
import polars as pl
from plotly.subplots import make_subplots

from streamlit_app.lib.charts.common import (
    FALLBACK_COLOR,
    HEALTH_LINE_COLOR,
    MARGIN,
    MIN_SAMPLE,
    count_axis,
    empty_figure,
    midnight,
    top_legend,
)

SLA_METRIC_COLORS: dict[str, str] = {"triage": "#4C78A8", "proposal": "#F58518", "response": "#54A24B"}
SLA_WEEKLY_MIN_ELIGIBLE = MIN_SAMPLE


def sla_compliance_weekly(
    df: pl.DataFrame,
    breach_line_pct: float,
    min_eligible: int = SLA_WEEKLY_MIN_ELIGIBLE,
) -> go.Figure:
    """Weekly compliance (0–100 %) per SLA metric against the health line (compliance of
    100 − `breach_line_pct`, the org's `health.sla_breach_rate_pct` as published; dashed), above the
    number of eligible clocks behind each point.

    A week with fewer than `min_eligible` eligible clocks is a hollow marker off the line, labelled
    with its count: with one clock a week reads 0 % or 100 %, and joined into the line it looked like a
    plunge. Expects columns `metric`, `week_start` (Monday), `eligible_items`, `breached_items`,
    `compliance_pct`.
    """
    if df.is_empty():
        return empty_figure("No SLA clock has become eligible yet")
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.72, 0.28], vertical_spacing=0.06)
    present = set(df.get_column("metric").to_list())
    known = [m for m in SLA_METRIC_COLORS if m in present]
    for metric in known + sorted(present - set(known)):
        part = df.filter(pl.col("metric") == metric).sort("week_start")
        color = SLA_METRIC_COLORS.get(metric, FALLBACK_COLOR)
        weeks = part.get_column("week_start").to_list()
        eligible = part.get_column("eligible_items").to_list()
        pct = part.get_column("compliance_pct").to_list()
        small = [(e or 0) < min_eligible for e in eligible]
        detail = [
            f"{b:,} of {e:,} breached" + (f"; under {min_eligible} eligible" if s else "")
            for b, e, s in zip(part["breached_items"], eligible, small, strict=True)
        ]
        hover = f"{metric}<br>week of %{{x|%Y-%m-%d}}: %{{y:.1f}}% (%{{customdata}})<extra></extra>"
        fig.add_trace(
            go.Scatter(
                name=metric,
                legendgroup=metric,
                x=weeks,
                # Small weeks are left out of the line, which joins the weeks on either side of them.
                y=[None if s else v for v, s in zip(pct, small, strict=True)],
                mode="lines+markers",
                connectgaps=True,
                line={"color": color},
                customdata=detail,
                hovertemplate=hover,
            ),
            row=1,
            col=1,
        )
        if any(small):
            idx = [i for i, s in enumerate(small) if s]
            fig.add_trace(
                go.Scatter(
                    name=f"{metric}: under {min_eligible} eligible",
                    legendgroup=metric,
                    x=[weeks[i] for i in idx],
                    y=[pct[i] for i in idx],
                    mode="markers+text",
                    marker={"color": color, "symbol": "circle-open", "size": 10},
                    text=[f"n={eligible[i]}" for i in idx],
                    textposition="top center",
                    customdata=[detail[i] for i in idx],
                    hovertemplate=hover,
                ),
                row=1,
                col=1,
            )
        fig.add_trace(
            go.Bar(
                name=f"{metric}: eligible clocks",
                legendgroup=metric,
                showlegend=False,
                x=weeks,
                y=eligible,
                marker_color=color,
                hovertemplate=f"{metric}<br>week of %{{x|%Y-%m-%d}}: %{{y:,}} eligible<extra></extra>",
            ),
            row=2,
            col=1,
        )
    target = 100 - breach_line_pct
    fig.add_hline(
        y=target,
        line_dash="dash",
        line_color=HEALTH_LINE_COLOR,
        annotation_text=f"{target:g}% compliance ({breach_line_pct:g}% breach-rate health line)",
        annotation_position="bottom left",
        row=1,
        col=1,
    )
    fig.add_hline(
        y=min_eligible,
        line_dash="dot",
        line_color=HEALTH_LINE_COLOR,
        annotation_text=f"minimum sample ({min_eligible})",
        annotation_position="top left",
        row=2,
        col=1,
    )
    lowest = min((v for v in df.get_column("compliance_pct").to_list() if v is not None), default=0.0)
    weeks = sorted(set(df.get_column("week_start").to_list()))
    pad = dt.timedelta(days=3)
    xaxis: dict = {
        "type": "date",
        "tickformat": "%b %d",
        "range": [midnight(weeks[0]) - pad, midnight(weeks[-1]) + pad],
    }
    if len(weeks) <= 16:
        # Few weeks: label each Monday rather than letting plotly pick days in between.
        xaxis["tickvals"] = weeks
    fig.update_xaxes(**xaxis)
    fig.update_xaxes(title={"text": "Week starting (Monday)"}, row=2, col=1)
    fig.update_yaxes(
        title={"text": "Compliance"}, range=[min(lowest, target) - 8, 106], ticksuffix="%", row=1, col=1
    )
    fig.update_yaxes(
        **count_axis("Eligible", df.get_column("eligible_items").to_list() + [min_eligible]), row=2, col=1
    )
    fig.update_layout(
        height=460,
        margin=MARGIN,
        barmode="group",
        legend=top_legend("Metric"),
    )
    return fig
