"""Figure of the Owner workload page: open items per owner and priority tier."""

from __future__ import annotations

import plotly.graph_objects as go
import polars as pl

from streamlit_app.lib.charts.common import MARGIN, count_axis, empty_figure, top_legend

TIER_COLORS: dict[str, str] = {
    "critical": "#D6604D",
    "high": "#F58518",
    "medium": "#F2CF5B",
    "low": "#9ECAE9",
}


def owner_workload(df: pl.DataFrame) -> go.Figure:
    """Open items per owner stacked by priority tier; most items at the top.

    Expects columns `owner`, `total_items` and `<tier>_items` for every tier in `TIER_COLORS`.
    """
    if df.is_empty():
        return empty_figure("No owned items")
    ranked = df.sort(["total_items", "owner"], descending=[True, False])
    owners = ranked.get_column("owner").to_list()
    fig = go.Figure()
    for tier, color in TIER_COLORS.items():
        fig.add_trace(
            go.Bar(
                name=tier,
                y=owners,
                x=ranked.get_column(f"{tier}_items").to_list(),
                orientation="h",
                marker_color=color,
                hovertemplate=f"%{{y}}<br>{tier}: %{{x:,}}<extra></extra>",
            )
        )
    fig.update_layout(
        barmode="stack",
        height=max(240, 30 * len(owners) + 90),
        margin=MARGIN,
        legend=top_legend("Priority tier", keep_trace_order=True),
        xaxis=count_axis("Open items", ranked.get_column("total_items").to_list()),
        yaxis={"categoryorder": "array", "categoryarray": owners, "autorange": "reversed"},
        bargap=0.3,
    )
    return fig
