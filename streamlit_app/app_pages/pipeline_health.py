"""Pipeline health: the org's open pursuits per stage, which are aging or slipping, and the win rate by month.

Per stage, `marts.pipeline_health` as published: open pursuits and their forecast value, the org's p75
time in the stage (completed stays), pursuits in the stage longer than that (aging) and pursuits past
their due date (slipped). The win rate is `marts.win_rate_monthly`: won ÷ (won + lost) per month of close.
Above them, the chosen period's new pursuits (by `created_at`) and closes (by `closed_at`) from
`marts.pursuits`, against the previous period of the same length.
"""

from __future__ import annotations

import streamlit as st

from streamlit_app.lib import period as ui_period
from streamlit_app.lib import ui
from streamlit_app.lib.charts import pipeline as charts
from streamlit_app.lib.queries import periods as period_queries
from streamlit_app.lib.queries import pipeline as queries

ctx = ui.page_context("Pipeline health")
snap, org = ctx.snapshot, ctx.org_id

st.caption(ui.scope_caption(ctx))

stages = queries.pipeline_health(snap.path, snap.version, org)
if stages.is_empty():
    st.info(f"No pipeline rows for **{org}** in this snapshot yet.", icon=":material/inbox:")
    st.stop()

# What came in and what closed in the chosen period, against the previous period of the same length.
period = ui_period.sidebar(snap)
opened = period_queries.new_pursuits(snap.path, snap.version, org, period.start_ts, period.end_ts)
opened_before = period_queries.new_pursuits(
    snap.path, snap.version, org, period.previous.start_ts, period.previous.end_ts
)
closed = period_queries.closes(snap.path, snap.version, org, period.start_ts, period.end_ts)
closed_before = period_queries.closes(
    snap.path, snap.version, org, period.previous.start_ts, period.previous.end_ts
)
new_col, new_value_col, won_col, rate_col = st.columns(4)
ui_period.period_metric(
    new_col,
    "New pursuits",
    opened["pursuits"],
    opened_before["pursuits"],
    period,
    compare=opened_before["pursuits"] > 0,
    help="Pursuits created (promoted from a candidate) in the period.",
)
ui_period.period_metric(
    new_value_col,
    "New pipeline value",
    opened["value_usd"],
    opened_before["value_usd"],
    period,
    kind="usd",
    compare=opened_before["pursuits"] > 0,
    help="Forecast value of the pursuits created in the period (missing forecasts count 0).",
)
ui_period.period_metric(
    won_col,
    "Won",
    closed["won"],
    closed_before["won"],
    period,
    compare=closed_before["closed"] > 0,
    help="Pursuits won with their close in the period.",
)
ui_period.period_metric(
    rate_col,
    "Win rate",
    closed["win_rate"],
    closed_before["win_rate"],
    period,
    kind="ratio",
    compare=closed_before["closed"] > 0,
    help="Won ÷ (won + lost) of the pursuits closed in the period; — when none closed.",
)
if not (opened_before["pursuits"] or closed_before["closed"]):
    st.caption(ui_period.no_previous_caption(period))

st.caption(f"Open now, as of {ui.format_ts(snap.built_at)}:")
open_col, value_col, aging_col, slipped_col = st.columns(4)
open_col.metric("Open pursuits", ui.format_int(int(stages["open_pursuits"].sum())))
value_col.metric(
    "Open value",
    ui.format_usd(stages["open_value_usd"].sum()),
    help="Forecast value of the open pursuits (missing forecasts count 0).",
)
aging_col.metric(
    "Aging",
    ui.format_int(int(stages["aging_pursuits"].sum())),
    help="Open pursuits in their stage for longer than the org's p75 time in that stage.",
)
slipped_col.metric(
    "Slipped",
    ui.format_int(int(stages["slipped_pursuits"].sum())),
    help="Open pursuits whose due date has passed.",
)

st.subheader("Open pursuits by stage")
st.plotly_chart(
    charts.pipeline_health(stages),
    width="stretch",
    config={"displaylogo": False},
    key="pipeline_health_chart",
)
st.dataframe(
    ui.for_display(stages, {"stage": ui.word}),
    width="stretch",
    hide_index=True,
    placeholder=ui.MISSING,
    column_config={
        "stage": st.column_config.TextColumn("Stage"),
        "open_pursuits": st.column_config.NumberColumn("Open pursuits", format="localized"),
        "open_value_usd": ui.usd_column("Open value (USD)"),
        "p75_hours_in_stage": ui.hours_column(
            "p75 time in stage",
            help="75th percentile of completed stays in the stage; — when none completed.",
        ),
        "aging_pursuits": st.column_config.NumberColumn(
            "Aging", format="localized", help="In the stage for longer than its p75."
        ),
        "slipped_pursuits": st.column_config.NumberColumn(
            "Slipped", format="localized", help="Past their due date."
        ),
    },
)

st.subheader("Win rate by month")
months = queries.win_rate_monthly(snap.path, snap.version, org)
if months.is_empty():
    st.info(f"No pursuit of **{org}** has been won or lost yet.", icon=":material/emoji_events:")
    st.stop()

won, lost = int(months["won"].sum()), int(months["lost"].sum())
st.caption(
    f"{ui.format_int(won)} won and {ui.format_int(lost)} lost over {months.height} month(s) with a close · "
    f"win rate {ui.format_pct(won / (won + lost) if won + lost else None)} overall."
)
st.plotly_chart(
    charts.win_rate_monthly(months),
    width="stretch",
    config={"displaylogo": False},
    key="win_rate_monthly_chart",
)
st.caption(
    f"A month with fewer than {charts.MIN_SAMPLE} closes is a hollow marker labelled with its count (n=…), "
    "kept off the line: so few closes make a month read 0 % or 100 %."
)
with st.expander("Won and lost by month", icon=":material/table:"):
    st.dataframe(
        ui.for_display(months, {"month_start": lambda d: d.strftime("%Y-%m")}),
        width="stretch",
        hide_index=True,
        placeholder=ui.MISSING,
        column_config={
            "month_start": st.column_config.TextColumn("Month"),
            "won": st.column_config.NumberColumn("Won", format="localized"),
            "lost": st.column_config.NumberColumn("Lost", format="localized"),
            "win_rate": ui.ratio_column("Win rate"),
        },
    )
