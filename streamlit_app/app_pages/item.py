"""Item: one candidate or pursuit, with everything needed to act on it, opened from any row that links here.

`?org=<org>&type=pursuit|candidate&id=<id>` (see `ui.item_url`). The header is the item's names and state
(client, title, owner, stage, value, due date) with its Today rank and why; for an open pursuit the win
probability and its components (`marts.pursuit_scores`). Below: follow-ups, the memory card, SLA clocks,
similar closed pursuits and the timeline of its events.
"""

from __future__ import annotations

import streamlit as st

from streamlit_app.lib import ui
from streamlit_app.lib.queries import item as queries
from streamlit_app.lib.queries import memory as memory_queries
from streamlit_app.lib.queries import pipeline as pipeline_queries
from streamlit_app.lib.queries import snapshot
from streamlit_app.lib.views import item as view
from streamlit_app.lib.views import memory as memory_view

ctx = ui.page_context("Item")
snap, org = ctx.snapshot, ctx.org_id

item_type = st.query_params.get("type", "")
item_id = st.query_params.get("id", "")
if item_type not in queries.ITEM_TYPES or not item_id:
    st.info(
        "Open an item from a row of **Today**, **Pipeline** or **SLA compliance**: this page shows one "
        "candidate or pursuit at a time.",
        icon=":material/open_in_new:",
    )
    st.stop()

header = queries.item_header(snap.path, snap.version, org, item_type, item_id)
if header is None:
    st.warning(
        f"No {ui.word(item_type).lower()} **{ui.escape_markdown(item_id)}** in **{ui.escape_markdown(org)}**.",
        icon=":material/search_off:",
    )
    st.stop()

st.subheader(header["title"])
st.markdown(view.header_line(item_type, header))

value_col, due_col, stage_col, rank_col = st.columns(4)
value_col.metric(
    "Forecast value" if item_type == "pursuit" else "Value band",
    ui.format_usd(header["forecast_value_usd"]) if item_type == "pursuit" else ui.word(header["value_band"]),
)
due_col.metric("Due", ui.format_date(header["due_date"]))
stage_col.metric(
    "Stage" if item_type == "pursuit" else "Status",
    ui.word(header["state"]),
    help=f"Since {ui.format_ts(header['entered_state_at'])}.",
)
rank_col.metric(
    "Today rank",
    ui.MISSING if header["rank"] is None else f"#{header['rank']:,}",
    help="Its place on the Today page; — when it is not open.",
)
if header["priority_why"]:
    st.markdown(f"{ui.badge_markdown(header['badge'])} **Why it ranks here:** {header['priority_why']}")

if item_type == "pursuit":
    st.subheader("Win probability")
    try:
        score = queries.pursuit_score(snap.path, snap.version, org, item_id)
    except snapshot.SnapshotIncompatible:
        score = None
        st.caption("This snapshot has no win scores yet.")
    if score is None:
        if header["outcome"] is not None:
            st.caption(f"Closed: {ui.word(header['outcome'])}. Only open pursuits are scored.")
        else:
            st.caption("No score for this pursuit in this snapshot.")
    else:
        prob_col, base_col = st.columns(2)
        prob_col.metric("Win probability", ui.format_pct(score["win_probability"]))
        base_col.metric(
            "Org base rate", ui.format_pct(score["base_rate"]), help="Share of closed pursuits won."
        )
        st.markdown(f"**Why:** {ui.escape_markdown(score['why'])}")
        st.caption(f"{ui.word(score['scorer'])} · model version `{score['model_version']}`.")
        st.dataframe(
            view.score_components(score),
            width="stretch",
            hide_index=True,
            column_config={
                "component": st.column_config.TextColumn("Component"),
                "contribution": st.column_config.NumberColumn(
                    "Contribution",
                    help="Its share of the log-odds: positive raises the win probability, negative lowers it.",
                    format="%+.2f",
                ),
            },
        )

st.subheader("Follow-ups")
follow_ups = queries.item_follow_ups(snap.path, snap.version, org, item_type, item_id)
if follow_ups.is_empty():
    st.caption("No follow-up is due.")
else:
    for row in follow_ups.iter_rows(named=True):
        st.markdown(f"**{ui.word(row['kind'])}** (due since {ui.format_ts(row['due_at'])}): {row['why']}")

st.subheader("Memory")
card = memory_queries.memory_card(snap.path, snap.version, org, item_type, item_id)
if card is None:
    st.caption("No memory recorded for this item yet.")
else:
    for section, title in view.CARD_TITLES.items():
        items = card.get(section) or []
        if items:
            st.markdown(f"**{title}**\n\n{memory_view.items_markdown(items)}")
    st.caption(
        f"{ui.format_int(card['atoms_total'])} live atom(s). Search and governance on the Memory page."
    )

st.subheader("SLA clocks")
clocks = queries.sla_clocks(snap.path, snap.version, org, item_type, item_id)
if clocks.is_empty():
    st.caption("No SLA clock applies to this item.")
else:
    st.dataframe(
        ui.for_display(view.words(clocks, "metric", "status")),
        width="stretch",
        hide_index=True,
        placeholder=ui.MISSING,
        column_config={
            "metric": st.column_config.TextColumn("SLA"),
            "status": st.column_config.TextColumn("Status"),
            "started_at": st.column_config.DatetimeColumn("Started", format="YYYY-MM-DD HH:mm"),
            "deadline_at": st.column_config.DatetimeColumn("Deadline", format="YYYY-MM-DD HH:mm"),
            "stopped_at": st.column_config.DatetimeColumn("Stopped", format="YYYY-MM-DD HH:mm"),
            "threshold_hours": ui.hours_column("Threshold"),
            "elapsed_hours": ui.hours_column("Elapsed"),
            "is_breached": st.column_config.CheckboxColumn("Breached"),
        },
    )

if item_type == "pursuit":
    st.subheader("Similar closed pursuits")
    try:
        similar = queries.similar_pursuits(snap.path, snap.version, org, item_id)
    except snapshot.SnapshotIncompatible:
        similar = None
        st.caption("This snapshot has no similar pursuits yet.")
    if similar is not None and similar.is_empty():
        st.caption("No closed pursuit of the same client, industry or value band.")
    elif similar is not None:
        st.dataframe(
            ui.for_display(view.similar_table(similar, org)),
            width="stretch",
            hide_index=True,
            placeholder=ui.MISSING,
            column_config={
                "open": ui.link_column(),
                "title": st.column_config.TextColumn("Pursuit", width="medium"),
                "client_name": st.column_config.TextColumn("Client"),
                "outcome": st.column_config.TextColumn("Outcome"),
                "closed_at": st.column_config.DatetimeColumn("Closed", format="YYYY-MM-DD"),
                "alike": st.column_config.TextColumn("Alike in"),
                "decisive": st.column_config.TextColumn("Decisive memory", width="large"),
            },
        )

st.subheader("Timeline")
timeline = pipeline_queries.entity_timeline(snap.path, snap.version, org, item_type, item_id)
if timeline.is_empty():
    st.caption("No events recorded.")
else:
    st.dataframe(
        ui.for_display(view.timeline_table(timeline)),
        width="stretch",
        hide_index=True,
        placeholder=ui.MISSING,
        column_config={
            "occurred_at": st.column_config.TextColumn("Occurred (UTC)"),
            "event_name": st.column_config.TextColumn("Event"),
            "change": st.column_config.TextColumn("Change"),
            "outcome": st.column_config.TextColumn("Outcome"),
            "actor": st.column_config.TextColumn("Actor"),
            "detail": st.column_config.TextColumn(
                "Why", help="The rule broken, for a warned or rejected event."
            ),
        },
    )
