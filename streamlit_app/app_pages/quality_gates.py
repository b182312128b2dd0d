"""Quality gates: how often pursuits pass the pink and red review gates, what is missing when they do not.

Attempts, passes, pass rates, the top missing checklist items and the below-the-health-line flag are
`marts.gate_pass_rates` as published; the chart draws the org's health line the flag is judged against.
The KPIs count the chosen period (`marts.gate_attempts`, by the day of the stage change) against the
previous period of the same length.
Recent gate rejections are the org's `marts.rejected_events` with a `gate:*` rule — rejected, or
applied with a warning when the org runs its gates in warn mode.
"""

from __future__ import annotations

import polars as pl
import streamlit as st

from streamlit_app.lib import period as ui_period
from streamlit_app.lib import ui
from streamlit_app.lib.charts import gates as charts
from streamlit_app.lib.queries import gates as queries
from streamlit_app.lib.queries import periods as period_queries
from streamlit_app.lib.queries import snapshot

ctx = ui.page_context("Quality gates")
snap, org = ctx.snapshot, ctx.org_id

st.caption(ui.scope_caption(ctx))

gates = queries.gate_pass_rates(snap.path, snap.version, org)
if gates.is_empty():
    st.info(f"No gate rows for **{org}** in this snapshot yet.", icon=":material/inbox:")
    st.stop()

health = f"{gates['health_line'][0]:.0%}"  # the org's line, as the mart judged it
# Pass rates for the chosen period (attempts by the day of the stage change), against the previous
# period of the same length; the verdict under each is the published mart's, over every attempt.
period = ui_period.sidebar(snap)
try:
    now_gates = period_queries.gate_attempts(snap.path, snap.version, org, period.start_ts, period.end_ts)
    before_gates = period_queries.gate_attempts(
        snap.path, snap.version, org, period.previous.start_ts, period.previous.end_ts
    )
except snapshot.SnapshotIncompatible as exc:
    # A snapshot from before the attempts were published: the all-time rates below still stand.
    ui.incompatible_message(str(exc))
    now_gates = before_gates = None
if now_gates is not None and before_gates is not None:
    periods = {r["gate"]: r for r in now_gates.iter_rows(named=True)}
    befores = {r["gate"]: r for r in before_gates.iter_rows(named=True)}
    for column, row in zip(st.columns(max(gates.height, 2)), gates.iter_rows(named=True), strict=False):
        now, before = periods.get(row["gate"], {}), befores.get(row["gate"], {})
        ui_period.period_metric(
            column,
            f"{row['gate'].title()} gate pass rate",
            now.get("pass_rate"),
            before.get("pass_rate"),
            period,
            kind="ratio",
            compare=bool(before.get("attempts")),
            help="Passed ÷ attempts whose stage change happened in the period (— when there was none). "
            f"Health line: {health}.",
        )
        in_period = (
            f"{ui.format_int(now.get('passed'))} of {ui.format_int(now.get('attempts'))} attempts passed in the "
            "period"
            if now.get("attempts")
            else "No attempts in the period"
        )
        if row["attempts"]:
            verdict = (
                f":red[:material/warning: all time {ui.format_pct(row['pass_rate'])}, below the {health} "
                "health line]"
                if row["below_health_line"]
                else f":green[:material/check_circle: all time {ui.format_pct(row['pass_rate'])}, at or "
                f"above {health}]"
            )
            column.caption(f"{in_period} · {verdict}")
        else:
            column.caption(f"{in_period} · no attempts yet.")
    if not any(r.get("attempts") for r in befores.values()):
        st.caption(ui_period.no_previous_caption(period))

st.subheader("Pass rate by gate")
st.plotly_chart(
    charts.gate_pass_rates(gates),
    width="stretch",
    config={"displaylogo": False},
    key="gate_pass_rate_chart",
)
st.dataframe(
    ui.for_display(gates.drop("health_line")),  # the line is in the flag's header
    width="stretch",
    hide_index=True,
    placeholder=ui.MISSING,
    column_config={
        "gate": st.column_config.TextColumn("Gate"),
        "attempts": st.column_config.NumberColumn("Attempts", format="localized"),
        "passed": st.column_config.NumberColumn("Passed", format="localized"),
        "pass_rate": ui.ratio_column("Pass rate"),
        "top_missing_items": st.column_config.TextColumn(
            "Top missing items", help="Checklist items most often missing when the gate failed."
        ),
        "below_health_line": st.column_config.CheckboxColumn(f"Below {health}"),
    },
)

st.subheader("Recent gate rejections")
rejections = queries.gate_rejections(snap.path, snap.version, org)
if rejections.is_empty():
    st.success(f"No event of **{org}** has broken a gate rule.", icon=":material/check_circle:")
else:
    st.dataframe(
        ui.for_display(
            rejections.select(
                "occurred_at",
                "outcome",
                *(pl.col(c).map_elements(ui.word, return_dtype=pl.String) for c in ("rule", "event_name")),
                "detail",
                pl.col("entity_type").map_elements(ui.word, return_dtype=pl.String),
                "label",
                "entity_id",
                "event_id",
            )
        ),
        width="stretch",
        hide_index=True,
        placeholder=ui.MISSING,
        column_config={
            "occurred_at": st.column_config.TextColumn("Occurred (UTC)"),
            "outcome": st.column_config.TextColumn(
                "Outcome", help="rejected: not applied. warned: applied anyway (gate in warn mode)."
            ),
            "rule": st.column_config.TextColumn("Rule"),
            "detail": st.column_config.TextColumn("Why"),
            "event_name": st.column_config.TextColumn("Event"),
            "entity_type": st.column_config.TextColumn("Type"),
            "label": st.column_config.TextColumn("Item", width="medium"),
            "entity_id": st.column_config.TextColumn("ID"),
            "event_id": st.column_config.TextColumn("Event ID"),
        },
    )
    if rejections.height == queries.EXAMPLE_ROWS:
        st.caption(f"Showing the latest {queries.EXAMPLE_ROWS}.")
