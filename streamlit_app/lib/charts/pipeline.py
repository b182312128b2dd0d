"""Figures of the lifecycle pages: Pipeline (states, owners), Funnel velocity, Pipeline health, Win/loss."""

from __future__ import annotations

import datetime as dt

import plotly.graph_objects as go
import polars as pl

from streamlit_app.lib.charts.common import (
    CONVERTED_COLOR,
    ENTERED_COLOR,
    ENTITY_COLORS,
    FALLBACK_COLOR,
    HEALTH_LINE_COLOR,
    LOST_COLOR,
    MARGIN,
    MEDIAN_COLOR,
    MIN_SAMPLE,
    P90_COLOR,
    count_axis,
    empty_figure,
    midnight,
    top_legend,
)


def pair_label(from_stage: str, to_stage: str) -> str:
    """How a stage pair is named everywhere on screen.

    A `→ lost` pair counts, as the contract defines it, the items that entered the from-stage and were
    lost later at that stage or any later one, so its label says so: "qual → lost" alone reads as "lost
    from qual" and, beside "qual → pink", as if the two shares could not add up to more than 100 %.
    """
    if to_stage == "lost":
        return f"{from_stage} → lost (at {from_stage} or later)"
    return f"{from_stage} → {to_stage}"


def funnel_entered_converted(df: pl.DataFrame) -> go.Figure:
    """Entered vs converted per stage pair, in pair order top to bottom; `→ lost` pairs in red.

    Expects columns `from_stage`, `to_stage`, `entered`, `converted`, `conversion_rate`, in order.
    """
    if df.is_empty():
        return empty_figure("No funnel data")
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
    for is_lost, name, color in (
        (False, "Converted", CONVERTED_COLOR),
        (True, "Lost (at that stage or later)", LOST_COLOR),
    ):
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
        margin=MARGIN,
        legend=top_legend(),
        xaxis=count_axis("Items", df.get_column("entered").to_list()),
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
        return empty_figure("No conversions yet, so no durations")
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
        margin=MARGIN,
        legend=top_legend(),
        xaxis={"title": {"text": "Hours"}, "rangemode": "tozero"},
        yaxis={"categoryorder": "array", "categoryarray": labels, "autorange": "reversed"},
        bargap=0.25,
    )
    return fig


# ----------------------------------------------------------------------------------------- pipeline

UNASSIGNED_COLOR = FALLBACK_COLOR


def _entity_types_in_order(present: set[str]) -> list[str]:
    known = [t for t in ENTITY_COLORS if t in present]
    return known + sorted(present - set(known))


def state_label(entity_type: str, state: str) -> str:
    """How a state is named on the pipeline charts (states are per entity type)."""
    return f"{entity_type} · {state}"


def entities_by_state(df: pl.DataFrame) -> go.Figure:
    """Entities per entity type and state, one bar per pair in the frame's (lifecycle) order.

    Expects columns `entity_type`, `state`, `entities` (several rows per pair are summed).
    """
    if df.is_empty():
        return empty_figure("No entities for these filters")
    pairs = df.group_by(["entity_type", "state"], maintain_order=True).agg(pl.col("entities").sum())
    labels = [state_label(t, s) for t, s in zip(pairs["entity_type"], pairs["state"], strict=True)]
    fig = go.Figure()
    for entity_type in _entity_types_in_order(set(pairs["entity_type"].to_list())):
        idx = [i for i, t in enumerate(pairs["entity_type"].to_list()) if t == entity_type]
        counts = [pairs["entities"][i] for i in idx]
        fig.add_trace(
            go.Bar(
                name=entity_type,
                y=[labels[i] for i in idx],
                x=counts,
                orientation="h",
                marker_color=ENTITY_COLORS.get(entity_type, FALLBACK_COLOR),
                text=counts,
                textposition="outside",
                cliponaxis=False,
                hovertemplate="%{y}: %{x:,}<extra></extra>",
            )
        )
    fig.update_layout(
        height=max(240, 28 * len(labels) + 90),
        margin=MARGIN,
        legend=top_legend("Entity type"),
        xaxis=count_axis("Entities", pairs["entities"].to_list()),
        yaxis={"categoryorder": "array", "categoryarray": labels, "autorange": "reversed"},
        bargap=0.3,
    )
    return fig


def entities_by_owner(df: pl.DataFrame, unassigned: str = "—") -> go.Figure:
    """Entities per owner, stacked by entity type; most entities first, the unassigned bar last.

    Expects columns `owner`, `entity_type`, `entities` (several rows per pair are summed).
    """
    if df.is_empty():
        return empty_figure("No entities for these filters")
    per_owner = df.group_by("owner").agg(pl.col("entities").sum())
    ranked = sorted(per_owner.iter_rows(), key=lambda r: (r[0] == unassigned, -r[1], r[0]))
    owners = [r[0] for r in ranked]
    labels = {o: ("unassigned" if o == unassigned else o) for o in owners}
    by_pair = df.group_by(["owner", "entity_type"]).agg(pl.col("entities").sum())
    counts = {(o, t): n for o, t, n in by_pair.iter_rows()}
    fig = go.Figure()
    for entity_type in _entity_types_in_order(set(by_pair["entity_type"].to_list())):
        fig.add_trace(
            go.Bar(
                name=entity_type,
                y=[labels[o] for o in owners],
                x=[counts.get((o, entity_type), 0) for o in owners],
                orientation="h",
                marker_color=ENTITY_COLORS.get(entity_type, FALLBACK_COLOR),
                hovertemplate=f"%{{y}}<br>{entity_type}: %{{x:,}}<extra></extra>",
            )
        )
    fig.update_layout(
        barmode="stack",
        height=max(240, 30 * len(owners) + 90),
        margin=MARGIN,
        legend=top_legend("Entity type", keep_trace_order=True),
        xaxis=count_axis("Entities", [r[1] for r in ranked]),
        yaxis={
            "categoryorder": "array",
            "categoryarray": [labels[o] for o in owners],
            "autorange": "reversed",
        },
        bargap=0.3,
    )
    return fig


# ----------------------------------------------------------------------------------------- win/loss

OUTCOME_COLORS: dict[str, str] = {"won": "#54A24B", "lost": "#D6604D"}


def reason_label(reason_code: str | None) -> str:
    """A reason code as shown; pursuits closed without a reason are named as such, not hidden."""
    if reason_code in (None, "missing"):
        return "missing (no reason given)"
    return reason_code.replace("_", " ")


def win_loss(df: pl.DataFrame) -> go.Figure:
    """Closed pursuits per reason, won and lost side by side; most pursuits first, `missing` last.

    Expects columns `outcome`, `reason_code`, `pursuits`.
    """
    if df.is_empty():
        return empty_figure("No closed pursuits yet")
    totals = df.group_by("reason_code").agg(pl.col("pursuits").sum())
    ranked = sorted(totals.iter_rows(), key=lambda r: (r[0] in (None, "missing"), -r[1], r[0] or ""))
    labels = [reason_label(r[0]) for r in ranked]
    fig = go.Figure()
    present = df.get_column("outcome").to_list()
    for outcome in [o for o in OUTCOME_COLORS if o in present] + sorted(set(present) - set(OUTCOME_COLORS)):
        part = df.filter(pl.col("outcome") == outcome)
        counts = {reason_label(r): n for r, n in zip(part["reason_code"], part["pursuits"], strict=True)}
        fig.add_trace(
            go.Bar(
                name=outcome,
                y=[label for label in labels if label in counts],
                x=[counts[label] for label in labels if label in counts],
                orientation="h",
                marker_color=OUTCOME_COLORS.get(outcome, FALLBACK_COLOR),
                hovertemplate=f"%{{y}}<br>{outcome}: %{{x:,}} pursuits<extra></extra>",
            )
        )
    fig.update_layout(
        barmode="group",
        height=max(240, 40 * len(labels) + 90),
        margin=MARGIN,
        legend=top_legend("Outcome"),
        xaxis=count_axis("Pursuits", [r[1] for r in ranked]),
        yaxis={"categoryorder": "array", "categoryarray": labels, "autorange": "reversed"},
        bargap=0.25,
    )
    return fig


# ---------------------------------------------------------------------------------- pipeline health

PIPELINE_HEALTH_SERIES: dict[str, tuple[str, str]] = {
    "open_pursuits": ("Open", CONVERTED_COLOR),
    "aging_pursuits": ("Aging (over p75 in stage)", P90_COLOR),
    "slipped_pursuits": ("Slipped (past due date)", LOST_COLOR),
}


def pipeline_health(df: pl.DataFrame) -> go.Figure:
    """Open, aging and slipped pursuits per stage, side by side, in the frame's (stage) order.

    Expects columns `stage`, `open_pursuits`, `aging_pursuits`, `slipped_pursuits`.
    """
    if df.is_empty():
        return empty_figure("No pipeline rows")
    stages = df.get_column("stage").to_list()
    fig = go.Figure()
    for column, (name, color) in PIPELINE_HEALTH_SERIES.items():
        fig.add_trace(
            go.Bar(
                name=name,
                x=stages,
                y=df.get_column(column).to_list(),
                marker_color=color,
                hovertemplate="%{x}<br>" + name + ": %{y:,}<extra></extra>",
            )
        )
    fig.update_layout(
        barmode="group",
        height=340,
        margin=MARGIN,
        legend=top_legend(),
        xaxis={
            "title": {"text": "Stage"},
            "type": "category",
            "categoryorder": "array",
            "categoryarray": stages,
        },
        yaxis=count_axis("Pursuits", df.get_column("open_pursuits").to_list()),
        bargap=0.25,
    )
    return fig


def win_rate_monthly(df: pl.DataFrame, min_closed: int = MIN_SAMPLE) -> go.Figure:
    """Won and lost pursuits per month of close (bars, left axis) and the win rate (line, right axis).

    A month with fewer than `min_closed` closes is a hollow marker labelled with its count, off the line
    (as in `sla_compliance_weekly`). Expects columns `month_start` (first day of the month), `won`, `lost`,
    `win_rate` (0–1).
    """
    if df.is_empty():
        return empty_figure("No closed pursuits yet")
    ordered = df.sort("month_start")
    months = ordered.get_column("month_start").to_list()
    # Explicit widths (ms on a date axis): won left of the month's first day, lost right of it. Derived
    # widths collapse when there is a single month.
    bar_ms = dt.timedelta(days=12).total_seconds() * 1000
    fig = go.Figure()
    for outcome, offset in (("won", -bar_ms), ("lost", 0.0)):
        fig.add_trace(
            go.Bar(
                name=outcome,
                x=months,
                y=ordered.get_column(outcome).to_list(),
                width=bar_ms,
                offset=offset,
                marker_color=OUTCOME_COLORS[outcome],
                hovertemplate=f"%{{x|%b %Y}}<br>{outcome}: %{{y:,}}<extra></extra>",
            )
        )
    totals = [w + lost for w, lost in zip(ordered["won"], ordered["lost"], strict=True)]
    rates = ordered.get_column("win_rate").to_list()
    small = [total < min_closed for total in totals]
    fig.add_trace(
        go.Scatter(
            name="win rate",
            x=months,
            # Months with few closes are left out of the line, which joins the months either side of them.
            y=[None if s else r for r, s in zip(rates, small, strict=True)],
            yaxis="y2",
            mode="lines+markers",
            connectgaps=True,
            line={"color": HEALTH_LINE_COLOR},
            cliponaxis=False,
            hovertemplate="%{x|%b %Y}<br>win rate: %{y:.0%}<extra></extra>",
        )
    )
    if any(small):
        idx = [i for i, s in enumerate(small) if s]
        fig.add_trace(
            go.Scatter(
                name=f"win rate: under {min_closed} closed",
                x=[months[i] for i in idx],
                y=[rates[i] for i in idx],
                yaxis="y2",
                mode="markers+text",
                marker={"color": HEALTH_LINE_COLOR, "symbol": "circle-open", "size": 10},
                text=[f"n={totals[i]}" for i in idx],
                textposition="top center",
                cliponaxis=False,
                hovertemplate="%{x|%b %Y}<br>win rate: %{y:.0%} (%{text} closed)<extra></extra>",
            )
        )
    # Half a month of padding either side keeps a lone month's bars month-sized, not full-width.
    pad = dt.timedelta(days=20)
    xaxis: dict = {
        "title": {"text": "Month closed"},
        "type": "date",
        "tickformat": "%b %Y",
        "range": [midnight(months[0]) - pad, midnight(months[-1]) + pad],
    }
    if len(months) <= 16:
        xaxis["tickvals"] = months
    fig.update_layout(
        barmode="group",
        height=360,
        margin=MARGIN,
        legend=top_legend(),
        xaxis=xaxis,
        yaxis=count_axis("Pursuits closed", totals),
        yaxis2={
            "title": {"text": "Win rate"},
            "overlaying": "y",
            "side": "right",
            "range": [0, 1.05],
            # Quarters of the rate, not ticks aligned with the counts' gridlines (0 %, 23 %, 45 % …).
            "tickmode": "array",
            "tickvals": [0, 0.25, 0.5, 0.75, 1],
            "tickformat": ".0%",
            "showgrid": False,
        },
        bargap=0.25,
    )
    return fig
