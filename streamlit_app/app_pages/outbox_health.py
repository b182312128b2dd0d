"""Outbox health: is the org's outbox draining, how far behind is it, and which items gave up.

Numbers are `marts.outbox_health` as published (as of the snapshot, not live); the dead letters are
`marts.dead_letters` with the last error each item failed with. A dead letter is retried from the
command line, not from here: the dashboard only reads the snapshot.
"""

from __future__ import annotations

import streamlit as st

from streamlit_app.lib import ui
from streamlit_app.lib.queries import outbox as queries

ctx = ui.page_context("Outbox health")
snap, org = ctx.snapshot, ctx.org_id

st.caption(ui.scope_caption(ctx))

health = queries.outbox_health(snap.path, snap.version, org)
if health is None:
    st.info(f"**{org}** has no outbox items in this snapshot.", icon=":material/inbox:")
    st.stop()

pending_col, retrying_col, lag_col, dead_col, processed_col = st.columns(5)
pending_col.metric("Pending", ui.format_int(health["pending"]), help="Items waiting to be delivered.")
retrying_col.metric(
    "Retrying",
    ui.format_int(health["retrying"]),
    help="Pending items that failed before and wait for a retry.",
)
lag_col.metric(
    "Oldest pending",
    ui.format_duration(health["oldest_pending_age_s"]),
    help="Time since the oldest pending item was queued, at publish time (— when nothing is pending).",
)
dead_col.metric(
    "Dead letters", ui.format_int(health["dead_lettered"]), help="Items that ran out of attempts."
)
processed_col.metric("Processed (last hour)", ui.format_int(health["processed_last_hour"]))

if health["dead_lettered"]:
    st.warning(
        f"{ui.format_int(health['dead_lettered'])} item(s) stopped retrying and need attention.",
        icon=":material/mark_email_unread:",
    )
elif health["pending"]:
    st.caption(":material/schedule: Items are waiting; nothing has been dead-lettered.")
else:
    st.caption(":material/check_circle: The outbox is drained and nothing has been dead-lettered.")

st.subheader("Dead letters")
letters = queries.dead_letters(snap.path, snap.version, org)
if letters.is_empty():
    st.success(f"No dead letters for **{org}**.", icon=":material/check_circle:")
else:
    st.dataframe(
        ui.for_display(letters),
        width="stretch",
        hide_index=True,
        placeholder=ui.MISSING,
        column_config={
            "dead_at": st.column_config.TextColumn("Dead since (UTC)"),
            "event_id": st.column_config.TextColumn("Event ID"),
            "event_name": st.column_config.TextColumn("Event"),
            "entity_type": st.column_config.TextColumn("Entity type"),
            "entity_id": st.column_config.TextColumn("Entity"),
            "attempts": st.column_config.NumberColumn("Attempts", format="localized"),
            "last_error": st.column_config.TextColumn("Last error", width="large"),
        },
    )
    if letters.height == queries.EXAMPLE_ROWS:
        st.caption(f"Showing the latest {queries.EXAMPLE_ROWS} of {ui.format_int(health['dead_lettered'])}.")
    example = letters.get_column("event_id")[0]
    st.info(
        "**Retry a dead letter** once its cause is fixed, from a shell on the pipeline host:\n\n"
        "```\nworkstream outbox retry --home DIR --org ORG --event-id ID\n```\n\n"
        f"For example `--org {org} --event-id {example}`. `DIR` is the Workstream home the pipeline runs "
        "with. The item goes back to pending and shows up here after the next publish.",
        icon=":material/replay:",
    )
