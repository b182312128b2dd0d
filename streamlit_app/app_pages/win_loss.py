"""Win/loss: closed pursuits by outcome and the reason given, with their value and time to close; then
what the outcomes teach: how the win scoring did on held-out pursuits, and the patterns that go with
winning (docs/scoring.md).

The KPIs, the chart and the table count the pursuits closed in the chosen period (`marts.pursuits` by
`closed_at`, grouped as `marts.win_loss` groups them), against the previous period of the same length.
Pursuits closed without a reason have reason code `missing` and are shown as such — a gap in the data to
chase, not something to hide. The score and the patterns below are the current model's, not the period's.
"""

from __future__ import annotations

import streamlit as st

from streamlit_app.lib import period as ui_period
from streamlit_app.lib import ui
from streamlit_app.lib.charts import pipeline as charts
from streamlit_app.lib.queries import periods as period_queries
from streamlit_app.lib.queries import pipeline as queries
from streamlit_app.lib.queries import scoring as scoring_queries
from streamlit_app.lib.queries import snapshot
from streamlit_app.lib.views import pipeline as view

ctx = ui.page_context("Win/loss")
snap, org = ctx.snapshot, ctx.org_id

st.caption(ui.scope_caption(ctx))

if queries.win_loss(snap.path, snap.version, org).is_empty():
    st.info(f"No closed pursuits for **{org}** in this snapshot yet.", icon=":material/inbox:")
    st.stop()

# The pursuits closed in the chosen period (by `closed_at`), against the previous period of the same length.
period = ui_period.sidebar(snap)
rows = period_queries.win_loss(snap.path, snap.version, org, period.start_ts, period.end_ts)
now = period_queries.closes(snap.path, snap.version, org, period.start_ts, period.end_ts)
before = period_queries.closes(snap.path, snap.version, org, period.previous.start_ts, period.previous.end_ts)
compare = before["closed"] > 0
won_col, lost_col, rate_col, missing_col = st.columns(4)
ui_period.period_metric(
    won_col,
    "Won",
    now["won"],
    before["won"],
    period,
    compare=compare,
    help="Pursuits won, closed in the period.",
)
won_col.caption(f"{ui.format_usd(now['won_value_usd'])} forecast value")
ui_period.period_metric(
    lost_col,
    "Lost",
    now["lost"],
    before["lost"],
    period,
    better="lower",
    compare=compare,
    help="Pursuits lost, closed in the period.",
)
lost_col.caption(f"{ui.format_usd(now['lost_value_usd'])} forecast value")
ui_period.period_metric(
    rate_col,
    "Win rate",
    now["win_rate"],
    before["win_rate"],
    period,
    kind="ratio",
    compare=compare,
    help="Won ÷ (won + lost) of the pursuits closed in the period.",
)
missing = now["missing_reason"]
ui_period.period_metric(
    missing_col,
    "Reason missing",
    missing,
    before["missing_reason"],
    period,
    better="lower",
    compare=compare,
    help="Pursuits closed in the period without a reason code; they are counted under 'missing'.",
)
if not compare:
    st.caption(ui_period.no_previous_caption(period))
if missing:
    st.warning(
        f"{missing} closed pursuit(s) have no reason recorded; they appear as "
        f"**{charts.reason_label('missing')}** below.",
        icon=":material/help:",
    )

st.subheader("Pursuits by reason")
if rows.is_empty():
    st.info(f"No pursuit of **{org}** closed in {period.text()}.", icon=":material/filter_alt_off:")
else:
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

st.subheader("Does the win score beat the base rate?")
try:
    calibration = scoring_queries.score_calibration(snap.path, snap.version, org)
    reliability = scoring_queries.score_reliability(snap.path, snap.version, org)
    patterns = scoring_queries.win_patterns(snap.path, snap.version, org)
except snapshot.SnapshotIncompatible as exc:
    # Scores are published beside the outcome marts; without them the numbers above still stand.
    ui.incompatible_message(str(exc))
    st.stop()
if calibration.is_empty():
    st.info(f"No win score for **{org}** in this snapshot yet.", icon=":material/insights:")
else:
    cal = calibration.row(0, named=True)
    if cal["scorer"] == "prior":
        st.info(
            f"**{org}** has {cal['n_closed']} closed pursuit(s), too few to learn from: its scores come "
            "from the stated prior scorecard (docs/scoring.md), never from other orgs' outcomes.",
            icon=":material/school:",
        )
    model_col, base_col, held_col = st.columns(3)
    model_col.metric(
        "Brier score, model" if cal["scorer"] == "model" else "Brier score, prior",
        "—" if cal["brier_model"] is None else f"{cal['brier_model']:.3f}",
        help="Mean squared error of the predicted win chance on held-out pursuits; lower is better.",
    )
    base_col.metric(
        "Brier score, base rate",
        "—" if cal["brier_base_rate"] is None else f"{cal['brier_base_rate']:.3f}",
        help=f"Always predicting the win rate it learned from ({ui.format_pct(cal['base_rate'])}).",
    )
    held_col.metric(
        "Held-out pursuits",
        ui.format_int(cal["n_holdout"]),
        help="The most recently closed quarter, scored by a model fitted on the earlier three quarters.",
    )
    beats = (
        cal["brier_model"] is not None
        and cal["brier_base_rate"] is not None
        and cal["brier_model"] < cal["brier_base_rate"]
    )
    st.caption(
        f"Model `{cal['model_version']}`: "
        + ("beats the base rate on held-out pursuits." if beats else "does not beat the base rate yet.")
    )
    if not reliability.is_empty():
        st.dataframe(
            ui.for_display(reliability.drop("bin")),
            width="stretch",
            hide_index=True,
            placeholder=ui.MISSING,
            column_config={
                "p_low": ui.ratio_column("Predicted from"),
                "p_high": ui.ratio_column("to"),
                "scores": st.column_config.NumberColumn(
                    "Held-out scores",
                    format="localized",
                    help="A held-out pursuit is scored at each open stage it entered, so there are more "
                    "scores than held-out pursuits.",
                ),
                "mean_predicted": ui.ratio_column("Mean predicted"),
                "observed_win_rate": ui.ratio_column("Observed win rate"),
            },
        )

st.subheader("What goes with winning")
if patterns.is_empty():
    st.info(
        f"No pattern for **{org}** is clear enough yet (at least 20 submitted pursuits with and without, "
        "and a 95 % interval for the lift that excludes no difference).",
        icon=":material/query_stats:",
    )
else:
    for text in patterns["pattern"].head(5):
        st.markdown(f"- {text[0].upper()}{text[1:]}.")
    st.dataframe(
        ui.for_display(patterns),
        width="stretch",
        hide_index=True,
        placeholder=ui.MISSING,
        column_config={
            "pattern": st.column_config.TextColumn("Pattern"),
            "lift": st.column_config.NumberColumn("Lift", format="%.2f"),
            "lift_ci_low": st.column_config.NumberColumn("95 % from", format="%.2f"),
            "lift_ci_high": st.column_config.NumberColumn("to", format="%.2f"),
            "win_rate_with": ui.ratio_column("Win rate with"),
            "win_rate_without": ui.ratio_column("without"),
            "support_with": st.column_config.NumberColumn("Pursuits with", format="localized"),
            "support_without": st.column_config.NumberColumn("without", format="localized"),
        },
    )
