"""SLA compliance: how often the org meets its triage, proposal and response SLAs, and what is breached now.

Per metric, eligible clocks, breaches, open breaches and compliance are `marts.sla_compliance_summary`
as published (percentages on a 0–100 scale); a metric is flagged when its breach rate is above the
org's health line (published with it). The weekly trend is `marts.sla_compliance_weekly`, open breaches
`marts.sla_breaches` and the alerts raised for them the operational log `marts.alerts` (one row per
alert and sink). The KPIs count the chosen period (`marts.sla_clocks`, by the moment each clock became
eligible, as the weekly trend places it) against the previous period of the same length.
"""

from __future__ import annotations

import polars as pl
import streamlit as st

from streamlit_app.lib import period as ui_period
from streamlit_app.lib import ui
from streamlit_app.lib.charts import sla as charts
from streamlit_app.lib.queries import periods as period_queries
from streamlit_app.lib.queries import sla as queries
from streamlit_app.lib.queries import snapshot
from streamlit_app.lib.views import sla as view

ctx = ui.page_context("SLA compliance")
snap, org = ctx.snapshot, ctx.org_id

st.caption(ui.scope_caption(ctx))

summary = queries.sla_compliance_summary(snap.path, snap.version, org)
if summary.is_empty():
    st.info(f"No SLA rows for **{org}** in this snapshot yet.", icon=":material/inbox:")
    st.stop()

breach_line_pct = summary["health_line_pct"][0]  # the org's line, as the mart judged it
line = f"{breach_line_pct:g}%"

# KPIs for the chosen period: the clocks that became eligible in it, against the previous period. The
# verdict under each is the published summary's, over every clock up to the as-of time.
period = ui_period.sidebar(snap)
now_clocks = period_queries.sla_clocks(snap.path, snap.version, org, period.start_ts, period.end_ts)
before_clocks = period_queries.sla_clocks(
    snap.path, snap.version, org, period.previous.start_ts, period.previous.end_ts
)
by_metric = {row["metric"]: row for row in summary.iter_rows(named=True)}
metrics = list(by_metric)  # the summary's metrics, in its order
periods = {r["metric"]: r for r in now_clocks.iter_rows(named=True)}
befores = {r["metric"]: r for r in before_clocks.iter_rows(named=True)}
for column, metric in zip(st.columns(max(len(metrics), 3)), metrics, strict=False):
    now, before, row = periods.get(metric, {}), befores.get(metric, {}), by_metric[metric]
    compare = bool(before.get("eligible_items"))
    ui_period.period_metric(
        column,
        f"{ui.word(metric)} compliance",
        now.get("compliance_pct"),
        before.get("compliance_pct"),
        period,
        kind="points",
        compare=compare,
        help="Clocks that became eligible in the period (met: when they stopped; breached: at their "
        "deadline) and met the SLA ÷ those clocks (— when none did). "
        f"Threshold now: {ui.format_hours_number(row['threshold_hours'])}.",
    )
    ui_period.period_metric(
        column,
        f"{ui.word(metric)} breach rate",
        now.get("breach_rate_pct"),
        before.get("breach_rate_pct"),
        period,
        kind="points",
        better="lower",  # a breach rate going up is bad news
        compare=compare,
        help="Of the same clocks, those that breached.",
    )
    eligible = now.get("eligible_items") or 0
    in_period = (
        f"{ui.format_int(now.get('breached_items'))} of {ui.format_int(eligible)} breached in the period"
        if eligible
        else "Nothing eligible in the period"
    )
    if row["eligible_items"]:
        verdict = (
            f":red[:material/warning: breach rate {ui.format_pct_points(row['breach_rate_pct'])} all time, "
            f"above the {line} health line]"
            if row["below_health_line"]
            else f":green[:material/check_circle: breach rate {ui.format_pct_points(row['breach_rate_pct'])} "
            f"all time, within {line}]"
        )
        column.caption(f"{in_period} · {ui.format_int(row['open_breaches'])} open now · {verdict}")
    else:
        column.caption(f"{in_period} · nothing eligible yet.")
if not any((befores.get(m) or {}).get("eligible_items") for m in metrics):
    st.caption(ui_period.no_previous_caption(period))

st.subheader("All time")
st.caption("Every clock of the snapshot, as of its data-as-of time; the figures above are the period's.")
st.dataframe(
    ui.for_display(summary.drop("health_line_pct")),  # the line is in the flag's header
    width="stretch",
    hide_index=True,
    placeholder=ui.MISSING,
    column_config={
        "metric": st.column_config.TextColumn("Metric"),
        "threshold_hours": ui.hours_column(
            "Threshold now",
            help="In force at the as-of time. A clock keeps the threshold in force when it started, so an "
            "open breach may show another one.",
        ),
        "eligible_items": st.column_config.NumberColumn(
            "Eligible", format="localized", help="Clocks that stopped, or ran past their deadline."
        ),
        "breached_items": st.column_config.NumberColumn("Breached", format="localized"),
        "open_breaches": st.column_config.NumberColumn("Open breaches", format="localized"),
        "at_risk_items": st.column_config.NumberColumn(
            "At risk", format="localized", help="Running clocks close to their deadline."
        ),
        "compliance_pct": ui.percent_points_column("Compliance"),
        "breach_rate_pct": ui.percent_points_column("Breach rate"),
        "below_health_line": st.column_config.CheckboxColumn(f"Breach rate above {line}"),
    },
)

st.subheader("Compliance by week")
weekly = queries.sla_compliance_weekly(snap.path, snap.version, org)
st.plotly_chart(
    charts.sla_compliance_weekly(weekly, breach_line_pct),
    width="stretch",
    config={"displaylogo": False},
    key="sla_weekly_chart",
)
st.caption(
    "Each clock counts in the week it became eligible: its stop when it met the SLA, its deadline when "
    f"it breached. The dashed line is {100 - breach_line_pct:g}% compliance, "
    f"i.e. the {line} breach-rate health line. The bars below count the eligible clocks behind each point; "
    f"a week with fewer than {charts.SLA_WEEKLY_MIN_ELIGIBLE} is a hollow marker labelled with its count "
    "(n=…), kept off the line, because so few clocks make a week read 0 % or 100 %."
)

st.subheader("Open breaches")
breaches = queries.sla_open_breaches(snap.path, snap.version, org)
open_total = int(summary["open_breaches"].sum() or 0)
if breaches.is_empty():
    st.success(f"No open SLA breach for **{org}**.", icon=":material/check_circle:")
else:
    st.dataframe(
        ui.for_display(
            breaches.select(
                pl.col("item_type").map_elements(ui.word, return_dtype=pl.String),
                "label",
                pl.col("metric").map_elements(ui.word, return_dtype=pl.String),
                pl.all().exclude("item_type", "label", "metric", "item_id"),
                # The id last: the item is named in `label`, and its page is one click away.
                "item_id",
            )
        ).insert_column(0, ui.item_links(breaches, org)),
        width="stretch",
        hide_index=True,
        placeholder=ui.MISSING,
        column_config={
            "open": ui.link_column(pinned=True, help="The item page; signals have none."),
            "item_type": st.column_config.TextColumn("Item type"),
            "label": st.column_config.TextColumn(
                "Item", width="medium", help="Its title (a signal by its source), else its id."
            ),
            "item_id": st.column_config.TextColumn("ID"),
            "metric": st.column_config.TextColumn("Metric"),
            "started_at": st.column_config.TextColumn("Clock started (UTC)"),
            "breached_at": st.column_config.TextColumn(
                "Breached (UTC)", help="The deadline that was missed."
            ),
            "threshold_hours": ui.hours_column(
                "Clock's threshold",
                help="In force when the clock started; a later change does not move its deadline.",
            ),
            "hours_over_threshold": ui.hours_column(
                "Over by", help="Time past the deadline, as of the snapshot."
            ),
        },
    )
    older = view.earlier_thresholds(summary, breaches)
    if older:
        st.caption(
            "Some of these clocks started under an earlier threshold, which they keep: "
            + "; ".join(
                f"{metric} {ui.format_hours_number(then)} then, {ui.format_hours_number(now)} now"
                for metric, then, now in older
            )
            + "."
        )
    if breaches.height < open_total:
        st.caption(f"Showing the {breaches.height:,} longest overdue of {open_total:,}.")

st.subheader("Recent alerts")
try:
    alerts = queries.recent_alerts(snap.path, snap.version, org, snap.token)
except snapshot.SnapshotIncompatible as exc:
    # The alert log is written beside the marts; without it the rest of the page still stands.
    ui.incompatible_message(str(exc))
    st.stop()
if alerts.is_empty():
    st.info(f"No SLA alert has been raised for **{org}**.", icon=":material/notifications_off:")
else:
    st.dataframe(
        ui.for_display(
            alerts.select(
                "created_at",
                pl.col("kind").map_elements(ui.word, return_dtype=pl.String),
                pl.col("item_type").map_elements(ui.word, return_dtype=pl.String),
                "label",
                pl.col("metric").map_elements(ui.word, return_dtype=pl.String),
                pl.all().exclude("created_at", "kind", "item_type", "label", "metric", "item_id"),
                "item_id",
            )
        ),
        width="stretch",
        hide_index=True,
        placeholder=ui.MISSING,
        column_config={
            "created_at": st.column_config.TextColumn("Raised (UTC)"),
            "kind": st.column_config.TextColumn(
                "Kind",
                help="breach: a deadline was missed. retraction: a late event showed the deadline was met.",
            ),
            "item_type": st.column_config.TextColumn("Item type"),
            "label": st.column_config.TextColumn("Item", width="medium"),
            "item_id": st.column_config.TextColumn("ID"),
            "metric": st.column_config.TextColumn("Metric"),
            "breached_at": st.column_config.TextColumn("Breached (UTC)"),
            "sink": st.column_config.TextColumn("Sink"),
            "delivery_status": st.column_config.TextColumn("Delivery"),
            "attempts": st.column_config.NumberColumn("Attempts", format="localized"),
            "last_error": st.column_config.TextColumn("Last error", width="medium"),
            "alert_status": st.column_config.TextColumn(
                "Status",
                help="suppressed: already old when noticed (e.g. a backfill); recorded, paged nobody.",
            ),
        },
    )
    if alerts.height == queries.EXAMPLE_ROWS:
        st.caption(f"Showing the latest {queries.EXAMPLE_ROWS} deliveries.")
