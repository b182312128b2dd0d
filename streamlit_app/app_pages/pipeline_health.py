"""Pipeline health: the org's open pursuits per stage, which are aging or slipping, and the win rate by month.

Per stage, `marts.pipeline_health` as published: open pursuits and their forecast value, the org's p75
time in the stage (completed stays), pursuits in the stage longer than that (aging) and pursuits past
their due date (slipped). The win rate is `marts.win_rate_monthly`: won ÷ (won + lost) per month of close.
"""

from __future__ import annotations

import streamlit as st

from streamlit_app.lib import ui
from streamlit_app.lib.charts import pipeline as charts
from streamlit_app.lib.queries import pipeline as queries

ctx = ui.page_context("Pipeline health")
snap, org = ctx.snapshot, ctx.org_id

st.caption(ui.scope_caption(ctx))

stages = queries.pipeline_health(snap.path, snap.version, org)
if stages.is_empty():
    st.info(f"No pipeline rows for **{org}** in this snapshot yet.", icon=":material/inbox:")
    st.stop()

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
