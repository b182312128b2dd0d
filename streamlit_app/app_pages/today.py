"""Today: the org's open candidates and pursuits ranked by priority, with the score explained.

Rows, ranks, badges, the five score components and the `why` text are `marts.today_panel` as
published (ranking config of the org at build time). The mart has every open item; this page shows
the top `queries.TODAY_ROWS` within the filters, which are applied in SQL so large orgs stay fast.
Below it, the follow-ups (`marts.follow_ups`): quiet proposals and signals, and client preferences
beside a pursuit's next step, each with its why.
"""

from __future__ import annotations

import polars as pl
import streamlit as st

from streamlit_app.lib import ui
from streamlit_app.lib.queries import snapshot, users
from streamlit_app.lib.queries import today as queries
from streamlit_app.lib.views import today as view

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
# Owners are filtered by id and shown by name (else the id).
names = users.user_names(snap.path, snap.version, org)
with ui.page_sidebar():
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
        format_func=lambda o: "— (unassigned)" if o == queries.UNASSIGNED else names.get(o, o),
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

# Narrow enough for a 1440-px screen with the why in view: the score's components, type, id, tier and
# tags are on the item page each row links to.
table = items.select(
    "rank",
    pl.col("badge").map_elements(ui.format_badge, return_dtype=pl.String),
    "title",
    "owner",
    "due_date",
    "why",
    pl.concat_str(
        pl.col("top_atom_type").map_elements(ui.word, return_dtype=pl.String),
        pl.lit(": "),
        pl.col("top_atom"),
    ).alias("top_atom"),
)
# Widths chosen so the why ends inside a 1440-px screen beside the sidebar (`view.ITEM_COLUMNS`).
widths = view.ITEM_COLUMNS
st.dataframe(
    ui.for_display(table).insert_column(0, ui.item_links(items, org)),
    width="stretch",
    hide_index=True,
    placeholder=ui.MISSING,
    row_height=view.ROW_HEIGHT,
    column_order=list(widths),
    column_config={
        "open": ui.link_column(pinned=True, help="The item page: score, components, memory, SLA."),
        "rank": st.column_config.NumberColumn("Rank", format="localized", width=widths["rank"], pinned=True),
        "badge": st.column_config.TextColumn(
            "Badge",
            width=widths["badge"],
            help="SLA breach: an open SLA breach · Needs attention: a stale candidate or an overdue pursuit "
            "· On track.",
        ),
        "title": st.column_config.TextColumn(
            "Item", width=widths["title"], help="The candidate's title; a pursuit's candidate's title."
        ),
        "owner": st.column_config.TextColumn("Owner", width=widths["owner"], help="— = unassigned"),
        "due_date": st.column_config.TextColumn("Due", width=widths["due_date"], help="Pursuits only."),
        "why": st.column_config.TextColumn(
            "Why", width=widths["why"], help="The priority score's components; the score is their sum."
        ),
        "top_atom": st.column_config.TextColumn(
            "Top memory",
            width=widths["top_atom"],
            help="The item's highest-ranked memory atom; the rest on its page.",
        ),
    },
)
if items.height < summary["items"]:
    st.caption(
        f"Showing {items.height:,} of {summary['items']:,} (the highest ranked). "
        "Narrow the filters to see others."
    )

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
    widths = view.FOLLOW_UP_COLUMNS
    st.dataframe(
        ui.for_display(
            follow_ups.select(
                "due_at",
                pl.col("kind").map_elements(ui.word, return_dtype=pl.String),
                "label",
                "owner",
                "reason",
            )
        ).insert_column(0, ui.item_links(follow_ups, org)),
        width="stretch",
        hide_index=True,
        placeholder=ui.MISSING,
        row_height=view.ROW_HEIGHT,
        column_order=list(widths),
        column_config={
            "due_at": st.column_config.DatetimeColumn(
                "Due since", format="YYYY-MM-DD HH:mm", width=widths["due_at"]
            ),
            "kind": st.column_config.TextColumn("Follow-up", width=widths["kind"]),
            "open": ui.link_column(help="The item page; signals have none."),
            "label": st.column_config.TextColumn("Item", width=widths["label"]),
            "owner": st.column_config.TextColumn("Owner", width=widths["owner"], help="— = unassigned"),
            "reason": st.column_config.TextColumn("Why", width=widths["reason"]),
        },
    )
    if follow_ups.height == queries.FOLLOW_UP_ROWS:
        st.caption(
            f"Showing the first {queries.FOLLOW_UP_ROWS}: quiet proposals, then client preferences, then "
            "quiet signals, the most recently due first."
        )
