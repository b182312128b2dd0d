"""Overview: how many events the selected org has sent, of which kinds and when.

All numbers come from `marts.event_volume_daily`; the events KPI with no filters equals the org's
accepted records on the Data quality page.
"""

from __future__ import annotations

import streamlit as st

from streamlit_app.lib import period as ui_period
from streamlit_app.lib import ui
from streamlit_app.lib.charts import overview as charts
from streamlit_app.lib.queries import overview as queries

ctx = ui.page_context("Overview")
snap, org = ctx.snapshot, ctx.org_id

st.caption(ui.scope_caption(ctx))

options = queries.volume_options(snap.path, snap.version, org)
first, last = options["first_date"], options["last_date"]
if first is None:
    st.info(f"No accepted events for **{org}** in this snapshot yet.", icon=":material/inbox:")
    st.stop()

# The period is the analyst pages' shared one; the event-type filter's key carries the org and snapshot
# version, so a new publish or another org starts without event names that no longer exist.
period = ui_period.sidebar(snap)
filter_key = f"{org}_{snap.version}"
with ui.page_sidebar():
    st.markdown("**Filters**")
    event_names = st.multiselect(
        "Event types",
        options["event_names"],
        placeholder="All event types",
        key=f"overview_event_names_{filter_key}",
    )
    grain = st.segmented_control(
        "Group by",
        ["day", "week"],
        default="day",
        required=True,
        format_func=str.title,
        key="overview_grain",
    )


start, end = period.start, period.end
names = tuple(sorted(event_names))

kpis = queries.volume_kpis(snap.path, snap.version, org, start, end, names)
before = queries.volume_kpis(snap.path, snap.version, org, period.previous.start, period.previous.end, names)
compare = before["events"] > 0
events_col, types_col, days_col, first_col, last_col = st.columns(5)
for column, label, key, help_text in (
    (events_col, "Events", "events", "Accepted events in the period (by the day they occurred, UTC)."),
    (types_col, "Event types", "event_types", "Distinct event names with events in the period."),
    (days_col, "Active days", "active_days", "Days of the period with at least one event."),
):
    # Volume is neither good nor bad in itself, so its change is grey.
    ui_period.period_metric(
        column, label, kpis[key], before[key], period, better="neither", compare=compare, help=help_text
    )
first_col.metric("First day", ui.format_date(kpis["first_date"]), help="First day with events (UTC).")
last_col.metric("Last day", ui.format_date(kpis["last_date"]), help="Last day with events (UTC).")
if not compare:
    st.caption(ui_period.no_previous_caption(period))
total = queries.volume_kpis(snap.path, snap.version, org, first, last, ())
if kpis["events"] != total["events"]:
    st.caption(f"Filtered view: {ui.format_int(kpis['events'])} of {ui.format_int(total['events'])} events.")

st.subheader("Events over time")
over_time = queries.volume_over_time(snap.path, snap.version, org, start, end, names, grain)
if over_time.is_empty():
    st.info("No events match these filters.", icon=":material/filter_alt_off:")
else:
    st.plotly_chart(
        charts.events_over_time(over_time, grain),
        width="stretch",
        config={"displaylogo": False},
        key="overview_events_chart",
    )
    if grain == "week":
        st.caption("Weeks run Monday to Sunday (UTC); the first and last week may be partial.")

st.subheader("Volume by event type")
by_name = queries.volume_by_event_name(snap.path, snap.version, org, start, end, names)
if by_name.is_empty():
    st.info("No events match these filters.", icon=":material/filter_alt_off:")
else:
    st.dataframe(
        ui.for_display(by_name, {"event_name": ui.word, "entity_type": ui.word}),
        width="stretch",
        hide_index=True,
        placeholder=ui.MISSING,
        column_config={
            "event_name": st.column_config.TextColumn("Event"),
            "entity_type": st.column_config.TextColumn("Entity type"),
            "events": st.column_config.NumberColumn("Events", format="localized"),
            "share": st.column_config.ProgressColumn("Share", format="percent", min_value=0.0, max_value=1.0),
            "first_date": st.column_config.TextColumn("First day"),
            "last_date": st.column_config.TextColumn("Last day"),
        },
    )
