"""Owner workload: who holds the org's open candidates and pursuits, how urgent they are, what is slipping.

Rows are `marts.owner_workload` as published: the Today panel's items with an owner, per owner, by
priority tier, with open SLA breaches (red badges), at-risk items (amber), stale items and the longest
time an item has gone untouched. Unowned items are on the Today page (owner —). Above them, the work
that reached owners in the chosen period (`marts.candidates` and `marts.pursuits` by `created_at`, closes
by `closed_at`) against the previous period of the same length.
"""

from __future__ import annotations

import streamlit as st

from streamlit_app.lib import period as ui_period
from streamlit_app.lib import ui
from streamlit_app.lib.charts import today as charts
from streamlit_app.lib.queries import periods as period_queries
from streamlit_app.lib.queries import today as queries

ctx = ui.page_context("Owner workload")
snap, org = ctx.snapshot, ctx.org_id

st.caption(ui.scope_caption(ctx))

rows = queries.owner_workload(snap.path, snap.version, org)
if rows.is_empty():
    st.info(f"No owned open items for **{org}** in this snapshot.", icon=":material/inbox:")
    st.stop()

# Work that reached owners in the chosen period, against the previous period of the same length; the
# numbers after it are the open items now.
period = ui_period.sidebar(snap)
work = period_queries.owned_work(snap.path, snap.version, org, period.start_ts, period.end_ts)
work_before = period_queries.owned_work(
    snap.path, snap.version, org, period.previous.start_ts, period.previous.end_ts
)
compare = any(work_before.values())
new_col, won_col, lost_col, _ = st.columns(4)
ui_period.period_metric(
    new_col,
    "New owned items",
    work["new_candidates"] + work["new_pursuits"],
    work_before["new_candidates"] + work_before["new_pursuits"],
    period,
    better="neither",  # more work coming in is neither good nor bad in itself
    compare=compare,
    help="Candidates and pursuits with an owner, created in the period.",
)
ui_period.period_metric(
    won_col,
    "Won by owners",
    work["won"],
    work_before["won"],
    period,
    compare=compare,
    help="Owned pursuits won, closed in the period.",
)
ui_period.period_metric(
    lost_col,
    "Lost by owners",
    work["lost"],
    work_before["lost"],
    period,
    better="lower",
    compare=compare,
    help="Owned pursuits lost, closed in the period.",
)
if not compare:
    st.caption(ui_period.no_previous_caption(period))

st.caption(f"Open now, as of {ui.format_ts(snap.built_at)}:")
owners_col, items_col, breaches_col, stale_col = st.columns(4)
owners_col.metric("Owners", ui.format_int(rows.height), help="Owners with at least one open item.")
items_col.metric("Owned items", ui.format_int(int(rows["total_items"].sum())))
breaches_col.metric(
    "SLA breaches", ui.format_int(int(rows["sla_breaches"].sum())), help="Owned items with a red badge."
)
stale_col.metric(
    "Stale items",
    ui.format_int(int(rows["stale_items"].sum())),
    help="Owned items untouched for longer than the org's stale threshold (default 168 h).",
)

st.subheader("Open items by owner and tier")
st.plotly_chart(
    charts.owner_workload(rows),
    width="stretch",
    config={"displaylogo": False},
    key="owner_workload_chart",
)

st.dataframe(
    ui.for_display(rows),
    width="stretch",
    hide_index=True,
    placeholder=ui.MISSING,
    column_config={
        "owner": st.column_config.TextColumn("Owner", pinned=True),
        "total_items": st.column_config.NumberColumn("Open items", format="localized"),
        "critical_items": st.column_config.NumberColumn("Critical", format="localized"),
        "high_items": st.column_config.NumberColumn("High", format="localized"),
        "medium_items": st.column_config.NumberColumn("Medium", format="localized"),
        "low_items": st.column_config.NumberColumn("Low", format="localized"),
        "avg_priority_score": ui.score_column("Avg score"),
        "sla_breaches": st.column_config.NumberColumn(
            "SLA breaches", format="localized", help="Items with an open SLA breach (red badge)."
        ),
        "at_risk_items": st.column_config.NumberColumn(
            "At risk", format="localized", help="Amber badge: a stale candidate or an overdue pursuit."
        ),
        "stale_items": st.column_config.NumberColumn("Stale", format="localized"),
        "max_hours_without_touch": ui.hours_column(
            "Longest untouched", help="The longest time one of the owner's items has gone without an event."
        ),
    },
)
