"""Funnel velocity: how many items move from stage to stage, and how long that takes.

Shows `marts.funnel_velocity` as published: every stage pair (zero-filled) in `pair_order`. Entered =
items whose first entry into the from-stage is at or before the as-of time; converted = those of them
that later reached the to-stage. Rates and hours are the mart's, not recomputed here.
"""

from __future__ import annotations

import streamlit as st

from streamlit_app.lib import ui
from streamlit_app.lib.charts import pipeline as charts
from streamlit_app.lib.queries import pipeline as queries
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


headline = [
    ("Signal → candidate", view.pair_row(funnel, "signal", "candidate")),
    ("Candidate → promoted", view.pair_row(funnel, "candidate", "promoted")),
    ("Submit → won", view.pair_row(funnel, "submit", "won")),
]
for column, (label, row) in zip(st.columns(len(headline)), headline, strict=True):
    entered = row["entered"] if row else 0
    column.metric(
        label,
        view.rate_text(row),
        help="Conversion rate from the mart: converted ÷ entered (blank when nothing entered).",
    )
    column.caption(
        f"{ui.format_int(row['converted'] if row else 0)} of {ui.format_int(entered)} · median {view.hours_text(row)}"
    )

if int(funnel.get_column("entered").sum()) == 0:
    st.info("No item has entered any stage yet, so every pair is zero.", icon=":material/inbox:")
else:
    st.subheader("Entered vs converted")
    st.plotly_chart(
        charts.funnel_entered_converted(funnel),
        width="stretch",
        config={"displaylogo": False},
        key="funnel_counts_chart",
    )
    st.caption("Bar labels are conversion rates (converted ÷ entered). " + LOST_PAIRS)

    st.subheader("Time to convert")
    st.plotly_chart(
        charts.funnel_hours(funnel),
        width="stretch",
        config={"displaylogo": False},
        key="funnel_hours_chart",
    )
    st.caption("Hours between the first entry into each stage; pairs without conversions have no bar.")

st.subheader("All stage pairs")
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
