"""Win/loss: closed pursuits by outcome and the reason given, with their value and time to close.

Rows are `marts.win_loss` as published. Pursuits closed without a reason have reason code `missing`
and are shown as such — a gap in the data to chase, not something to hide.
"""

from __future__ import annotations

import streamlit as st

from streamlit_app.lib import ui
from streamlit_app.lib.charts import pipeline as charts
from streamlit_app.lib.queries import pipeline as queries
from streamlit_app.lib.views import pipeline as view

ctx = ui.page_context("Win/loss")
snap, org = ctx.snapshot, ctx.org_id

st.caption(ui.scope_caption(ctx))

rows = queries.win_loss(snap.path, snap.version, org)
if rows.is_empty():
    st.info(f"No closed pursuits for **{org}** in this snapshot yet.", icon=":material/inbox:")
    st.stop()


won, lost = (
    view.outcome_total(rows, "won", "pursuits") or 0,
    view.outcome_total(rows, "lost", "pursuits") or 0,
)
missing = view.missing_reasons(rows)
won_col, lost_col, rate_col, missing_col = st.columns(4)
won_col.metric("Won", ui.format_int(won))
won_col.caption(f"{ui.format_usd(view.outcome_total(rows, 'won', 'value_usd'))} forecast value")
lost_col.metric("Lost", ui.format_int(lost))
lost_col.caption(f"{ui.format_usd(view.outcome_total(rows, 'lost', 'value_usd'))} forecast value")
rate_col.metric(
    "Win rate",
    ui.format_pct(view.win_rate(won, lost)),
    help="Won ÷ (won + lost) closed pursuits.",
)
missing_col.metric(
    "Reason missing",
    ui.format_int(missing),
    help="Closed pursuits without a reason code; they are counted under 'missing'.",
)
if missing:
    st.warning(
        f"{missing} closed pursuit(s) have no reason recorded; they appear as "
        f"**{charts.reason_label('missing')}** below.",
        icon=":material/help:",
    )

st.subheader("Pursuits by reason")
st.plotly_chart(
    charts.win_loss(rows),
    width="stretch",
    config={"displaylogo": False},
    key="win_loss_chart",
)

st.dataframe(
    ui.for_display(view.win_loss_table(rows)),
    width="stretch",
    hide_index=True,
    placeholder=ui.MISSING,
    column_config={
        "outcome": st.column_config.TextColumn("Outcome"),
        "reason_code": st.column_config.TextColumn("Reason"),
        "pursuits": st.column_config.NumberColumn("Pursuits", format="localized"),
        "value_usd": ui.usd_column("Forecast value (USD)", help="— when no value was forecast."),
        "median_days_to_close": ui.days_column(
            "Median days to close", help="From creation to close; — when unknown."
        ),
    },
)
