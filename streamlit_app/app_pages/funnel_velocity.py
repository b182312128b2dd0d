"""Funnel velocity: how many items move from stage to stage, and how long that takes.

Shows `marts.funnel_velocity` as published: every stage pair (zero-filled) in `pair_order`. Entered =
items whose first entry into the from-stage is at or before the as-of time; converted = those of them
that later reached the to-stage. Rates and hours are the mart's, not recomputed here. The headline
KPIs count the chosen period (`marts.funnel_stage_entries`, by the day of the first entry into the
from-stage) against the previous period of the same length.
"""

from __future__ import annotations

import streamlit as st

from streamlit_app.lib import period as ui_period
from streamlit_app.lib import ui
from streamlit_app.lib.charts import pipeline as charts
from streamlit_app.lib.queries import periods as period_queries
from streamlit_app.lib.queries import pipeline as queries
from streamlit_app.lib.queries import snapshot
from streamlit_app.lib.views import pipeline as view

ctx = ui.page_context("Funnel velocity")
snap, org = ctx.snapshot, ctx.org_id

st.caption(ui.scope_caption(ctx))

# The contract's definition of a `→ lost` pair, said where its numbers are shown.
LOST_PAIRS = (
    "A `→ lost` pair counts, as the contract defines it, the items that entered the from-stage and were "
    "lost by the as-of time **at that stage or any later one**, not only those lost straight from it. So "
    "`qual → pink` and `qual → lost` can add up to more than 100 %: an item that reached pink and was "
    "lost later counts in both."
)

funnel = queries.funnel_velocity(snap.path, snap.version, org)
if funnel.is_empty():
    st.info(f"No funnel rows for **{org}** in this snapshot.", icon=":material/inbox:")
    st.stop()


# The headline pairs for the chosen period (items that entered the from-stage in it), against the
# previous period; the charts and the table below are the mart's, over everything up to the as-of time.
period = ui_period.sidebar(snap)
try:
    now_pairs = period_queries.funnel_pairs(snap.path, snap.version, org, period.start_ts, period.end_ts)
    before_pairs = period_queries.funnel_pairs(
        snap.path, snap.version, org, period.previous.start_ts, period.previous.end_ts
    )
except snapshot.SnapshotIncompatible as exc:
    # A snapshot from before the stage entries were published: the all-time funnel below still stands.
    ui.incompatible_message(str(exc))
else:
    compare = int(before_pairs["entered"].sum()) > 0
    for column, now, before in zip(
        st.columns(now_pairs.height),
        now_pairs.iter_rows(named=True),
        before_pairs.iter_rows(named=True),
        strict=True,
    ):
        ui_period.period_metric(
            column,
            ui.word(charts.pair_label(now["from_stage"], now["to_stage"])),
            now["conversion_rate"],
            before["conversion_rate"],
            period,
            kind="ratio",
            compare=compare,
            help="Of the items that first entered the from-stage in the period, those that reached the "
            "to-stage before the period ended. Blank when none entered.",
        )
        mart = view.pair_row(funnel, now["from_stage"], now["to_stage"])
        column.caption(
            f"{ui.format_int(now['converted'])} of {ui.format_int(now['entered'])} in the period · "
            f"all time {view.rate_text(mart)}, median {view.hours_text(mart)}"
        )
    if not compare:
        st.caption(ui_period.no_previous_caption(period))

if int(funnel.get_column("entered").sum()) == 0:
    st.info("No item has entered any stage yet, so every pair is zero.", icon=":material/inbox:")
else:
    st.subheader("Entered vs converted, all time")
    st.plotly_chart(
        charts.funnel_entered_converted(funnel),
        width="stretch",
        config={"displaylogo": False},
        key="funnel_counts_chart",
    )
    st.caption("Bar labels are conversion rates (converted ÷ entered). " + LOST_PAIRS)

    st.subheader("Time to convert, all time")
    st.plotly_chart(
        charts.funnel_hours(funnel),
        width="stretch",
        config={"displaylogo": False},
        key="funnel_hours_chart",
    )
    st.caption("Hours between the first entry into each stage; pairs without conversions have no bar.")

st.subheader("All stage pairs, all time")
st.dataframe(
    view.funnel_table(funnel),
    width="stretch",
    hide_index=True,
    placeholder=ui.MISSING,
    column_config={
        "pair": st.column_config.TextColumn("Stage pair"),
        "entered": st.column_config.NumberColumn("Entered", format="localized"),
        "converted": st.column_config.NumberColumn(
            "Converted",
            format="localized",
            help="Of the entered items, those that later reached the to-stage; for a → lost pair, those lost "
            "at the from-stage or any later one.",
        ),
        "conversion_rate": st.column_config.NumberColumn("Conversion rate", format="percent"),
        "median_hours": st.column_config.NumberColumn("Median hours", format="%.1f"),
        "p90_hours": st.column_config.NumberColumn("p90 hours", format="%.1f"),
    },
)
st.caption(LOST_PAIRS)
