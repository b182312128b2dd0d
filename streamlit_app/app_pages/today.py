"""Today: the org's open candidates and pursuits ranked by priority, with the score explained.

Rows, ranks, badges, the five score components and the `why` text are `marts.today_panel` as
published (ranking config of the org at build time). The mart has every open item; this page shows
the top `queries.TODAY_ROWS` within the filters, which are applied in SQL so large orgs stay fast.
Below it, the follow-ups (`marts.follow_ups`): quiet proposals and signals, and client preferences
beside a pursuit's next step, each with its why.
"""

from __future__ import annotations

import streamlit as st

from streamlit_app.lib import ui
from streamlit_app.lib.queries import snapshot
from streamlit_app.lib.queries import today as queries

ctx = ui.page_context("Today")
snap, org = ctx.snapshot, ctx.org_id

st.caption(ui.scope_caption(ctx))

options = queries.today_options(snap.path, snap.version, org)
if not options["item_types"]:
    st.info(f"No open candidates or pursuits for **{org}** in this snapshot.", icon=":material/inbox:")
    st.stop()

ITEM_LABELS = {"candidate": "Candidates", "pursuit": "Pursuits"}

# Filter keys carry the org and snapshot version, as on the other pages.
filter_key = f"{org}_{snap.version}"
with st.sidebar:
    st.markdown("**Filters**")
    item_types = st.multiselect(
        "Item types",
        options["item_types"],
        placeholder="All item types",
        format_func=lambda t: ITEM_LABELS.get(t, t),
        key=f"today_types_{filter_key}",
    )
    owners = st.multiselect(
        "Owners",
        options["owners"],
        placeholder="All owners",
        format_func=lambda o: "— (unassigned)" if o == queries.UNASSIGNED else o,
        key=f"today_owners_{filter_key}",
    )
    tiers = st.multiselect(
        "Priority tiers",
        options["tiers"],
        placeholder="All tiers",
        key=f"today_tiers_{filter_key}",
    )
    tags = st.multiselect(
        "Tags",
        options["tags"],
        placeholder="Any tags",
        help="Items carrying at least one of the picked tags (a pursuit carries its candidate's tags).",
        key=f"today_tags_{filter_key}",
    )

filters = (tuple(sorted(item_types)), tuple(sorted(owners)), tuple(sorted(tiers)), tuple(sorted(tags)))
summary = queries.today_summary(snap.path, snap.version, org, *filters)
open_col, critical_col, high_col, red_col = st.columns(4)
open_col.metric("Open items", ui.format_int(summary["items"]), help="Open candidates and pursuits.")
critical_col.metric("Critical", ui.format_int(summary["critical"]), help="Priority tier critical.")
high_col.metric("High", ui.format_int(summary["high"]), help="Priority tier high.")
red_col.metric(
    "Red badges",
    ui.format_int(summary["red"]),
    help="Items with an open SLA breach. Amber: a stale candidate or an overdue pursuit.",
)
if any(filters):
    everything = queries.today_summary(snap.path, snap.version, org)
    st.caption(
        f"Filtered view: {ui.format_int(summary['items'])} of {ui.format_int(everything['items'])} "
        "open items match the filters."
    )

items = queries.today_items(snap.path, snap.version, org, *filters, limit=queries.TODAY_ROWS)
if items.is_empty():
    st.info("No open items match these filters.", icon=":material/filter_alt_off:")
    st.stop()

table = items.select(
    "rank",
    "badge",
    "label",
    "item_type",
    "item_id",
    "state",
    "owner",
    "due_date",
    "priority_score",
    "priority_tier",
    "urgency_points",
    "value_points",
    "stage_points",
    "compliance_points",
    "workload_points",
    "why",
    "tags",
)
st.dataframe(
    ui.for_display(table, {"badge": ui.format_badge}),
    width="stretch",
    hide_index=True,
    placeholder=ui.MISSING,
    column_config={
        "rank": st.column_config.NumberColumn("Rank", format="localized", pinned=True),
        "badge": st.column_config.TextColumn(
            "Badge", help="🔴 open SLA breach · 🟠 stale candidate or overdue pursuit · 🟢 on track."
        ),
        "label": st.column_config.TextColumn("Item", width="medium"),
        "item_type": st.column_config.TextColumn("Type"),
        "item_id": st.column_config.TextColumn("ID"),
        "state": st.column_config.TextColumn("State"),
        "owner": st.column_config.TextColumn("Owner", help="— = unassigned"),
        "due_date": st.column_config.TextColumn("Due", help="Pursuits only."),
        "priority_score": st.column_config.NumberColumn(
            "Score", help="The sum of the five components.", format="localized"
        ),
        "priority_tier": st.column_config.TextColumn("Tier"),
        "urgency_points": st.column_config.NumberColumn("Urgency", format="localized"),
        "value_points": st.column_config.NumberColumn("Value", format="localized"),
        "stage_points": st.column_config.NumberColumn("Stage", format="localized"),
        "compliance_points": st.column_config.NumberColumn(
            "Compliance", help="Pursuits only; 0 for candidates.", format="localized"
        ),
        "workload_points": st.column_config.NumberColumn(
            "Workload", help="Negative: the more open items the owner has, the lower.", format="localized"
        ),
        "why": st.column_config.TextColumn("Why", width="large"),
        "tags": st.column_config.TextColumn("Tags"),
    },
)
if items.height < summary["items"]:
    st.caption(
        f"Showing {items.height:,} of {summary['items']:,} (the highest ranked). "
        "Narrow the filters to see others."
    )

FOLLOW_UP_KINDS = {
    "proposal_quiet": "Proposal gone quiet",
    "signal_quiet": "Signal waiting on a reply",
    "client_preference": "Client preference",
}
st.subheader("Follow-ups")
try:
    follow_ups = queries.follow_ups(snap.path, snap.version, org)
except snapshot.SnapshotIncompatible as exc:
    # Published beside the panel; without it the ranking above still stands.
    ui.incompatible_message(str(exc))
    st.stop()
if follow_ups.is_empty():
    st.info(f"No follow-up is due for **{org}**.", icon=":material/task_alt:")
else:
    st.dataframe(
        ui.for_display(
            follow_ups.with_columns(
                follow_ups["kind"].replace_strict(FOLLOW_UP_KINDS, default=follow_ups["kind"])
            )
        ),
        width="stretch",
        hide_index=True,
        placeholder=ui.MISSING,
        column_config={
            "due_at": st.column_config.DatetimeColumn("Due since", format="YYYY-MM-DD HH:mm"),
            "kind": st.column_config.TextColumn("Follow-up"),
            "item_type": st.column_config.TextColumn("Type"),
            "item_id": st.column_config.TextColumn("ID"),
            "label": st.column_config.TextColumn("Item", width="medium"),
            "owner": st.column_config.TextColumn("Owner", help="— = unassigned"),
            "reason": st.column_config.TextColumn("Why", width="large"),
        },
    )
    if follow_ups.height == queries.FOLLOW_UP_ROWS:
        st.caption(
            f"Showing the first {queries.FOLLOW_UP_ROWS}: quiet proposals, then client preferences, then "
            "quiet signals, the most recently due first."
        )
