"""Plotly figure builders: frames in, figures out, no Streamlit, so they are unit-tested on their own.

Colours are fixed per entity type and per series so the same thing looks the same on every page.
"""

from __future__ import annotations

import datetime as dt

import plotly.graph_objects as go
import polars as pl
from plotly.subplots import make_subplots

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
    """How a stage pair is named everywhere on screen.

    A `→ lost` pair counts, as the contract defines it, the items that entered the from-stage and were
    lost later at that stage or any later one, so its label says so: "qual → lost" alone reads as "lost
    from qual" and, beside "qual → pink", as if the two shares could not add up to more than 100 %.
    """
    if to_stage == "lost":
        return f"{from_stage} → lost (at {from_stage} or later)"
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
        return _empty("No entities for these filters")
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
        margin=_MARGIN,
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0, "title": {"text": "Entity type"}},
        xaxis=_count_axis("Entities", pairs["entities"].to_list()),
        yaxis={"categoryorder": "array", "categoryarray": labels, "autorange": "reversed"},
        bargap=0.3,
    )
    return fig


def entities_by_owner(df: pl.DataFrame, unassigned: str = "—") -> go.Figure:
    """Entities per owner, stacked by entity type; most entities first, the unassigned bar last.

    Expects columns `owner`, `entity_type`, `entities` (several rows per pair are summed).
    """
    if df.is_empty():
        return _empty("No entities for these filters")
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
        margin=_MARGIN,
        legend={
            "orientation": "h",
            "yanchor": "bottom",
            "y": 1.02,
            "x": 0,
            "title": {"text": "Entity type"},
            "traceorder": "normal",
        },
        xaxis=_count_axis("Entities", [r[1] for r in ranked]),
        yaxis={
            "categoryorder": "array",
            "categoryarray": [labels[o] for o in owners],
            "autorange": "reversed",
        },
        bargap=0.3,
    )
    return fig


# ------------------------------------------------------------------------------------ quality gates

HEALTHY_COLOR = "#54A24B"
UNHEALTHY_COLOR = "#D6604D"
HEALTH_LINE_COLOR = "#444444"


def gate_pass_rates(df: pl.DataFrame) -> go.Figure:
    """Pass rate per gate against the org's health line (dashed); bars under it in red, gates without
    attempts labelled instead of drawn.

    Expects columns `gate`, `attempts`, `passed`, `pass_rate` (0–1 or null), `health_line` (the org's
    `health.gate_pass_rate`, as the mart judged it) and `below_health_line`.
    """
    if df.is_empty():
        return _empty("No gate attempts yet")
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
        margin=_MARGIN,
        showlegend=False,
        xaxis={"title": {"text": "Gate"}, "type": "category"},
        yaxis={"title": {"text": "Pass rate"}, "range": [0, 1.15], "tickformat": ".0%"},
        bargap=0.5,
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
        return _empty("No closed pursuits yet")
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
        margin=_MARGIN,
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0, "title": {"text": "Outcome"}},
        xaxis=_count_axis("Pursuits", [r[1] for r in ranked]),
        yaxis={"categoryorder": "array", "categoryarray": labels, "autorange": "reversed"},
        bargap=0.25,
    )
    return fig


# ----------------------------------------------------------------------------------- owner workload

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
        return _empty("No owned items")
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
        margin=_MARGIN,
        legend={
            "orientation": "h",
            "yanchor": "bottom",
            "y": 1.02,
            "x": 0,
            "title": {"text": "Priority tier"},
            "traceorder": "normal",
        },
        xaxis=_count_axis("Open items", ranked.get_column("total_items").to_list()),
        yaxis={"categoryorder": "array", "categoryarray": owners, "autorange": "reversed"},
        bargap=0.3,
    )
    return fig


# ---------------------------------------------------------------------------------------------- sla

SLA_METRIC_COLORS: dict[str, str] = {"triage": "#4C78A8", "proposal": "#F58518", "response": "#54A24B"}
# A rate over fewer items than this (a week's eligible clocks, a month's closed pursuits) is shown, but
# marked and kept off its line: one item makes a period read 0 % or 100 %.
MIN_SAMPLE = 5
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
        return _empty("No SLA clock has become eligible yet")
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
        "range": [_midnight(weeks[0]) - pad, _midnight(weeks[-1]) + pad],
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
        **_count_axis("Eligible", df.get_column("eligible_items").to_list() + [min_eligible]), row=2, col=1
    )
    fig.update_layout(
        height=460,
        margin=_MARGIN,
        barmode="group",
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0, "title": {"text": "Metric"}},
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
        return _empty("No pipeline rows")
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
        margin=_MARGIN,
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0},
        xaxis={
            "title": {"text": "Stage"},
            "type": "category",
            "categoryorder": "array",
            "categoryarray": stages,
        },
        yaxis=_count_axis("Pursuits", df.get_column("open_pursuits").to_list()),
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
        return _empty("No closed pursuits yet")
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
        "range": [_midnight(months[0]) - pad, _midnight(months[-1]) + pad],
    }
    if len(months) <= 16:
        xaxis["tickvals"] = months
    fig.update_layout(
        barmode="group",
        height=360,
        margin=_MARGIN,
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0},
        xaxis=xaxis,
        yaxis=_count_axis("Pursuits closed", totals),
        yaxis2={
            "title": {"text": "Win rate"},
            "overlaying": "y",
            "side": "right",
            "range": [0, 1.05],
            "tickformat": ".0%",
            "showgrid": False,
        },
        bargap=0.25,
    )
    return fig
