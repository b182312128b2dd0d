"""Pipeline: where the org's signals, candidates and pursuits are now, who owns them, and how one got there.

Counts come from `marts.signals`, `marts.candidates` and `marts.pursuits` (state = status or stage).
They are of the open entities unless *Show* asks for the closed ones (linked or dismissed signals,
promoted or archived candidates, pursuits with an outcome), which are then counted apart.
The timeline of one entity merges its applied transitions (`marts.transitions`), the events that
broke a lifecycle rule (`marts.rejected_events`: rejected, or applied with a warning) and its own
events (`marts.events`), oldest first.
"""

from __future__ import annotations

import streamlit as st

from streamlit_app.lib import ui
from streamlit_app.lib.charts import pipeline as charts
from streamlit_app.lib.queries import pipeline as queries
from streamlit_app.lib.queries import users
from streamlit_app.lib.views import pipeline as view

ctx = ui.page_context("Pipeline")
snap, org = ctx.snapshot, ctx.org_id

st.caption(ui.scope_caption(ctx))

options = queries.pipeline_options(snap.path, snap.version, org)
if not options["owners"]:
    st.info(
        f"No signals, candidates or pursuits for **{org}** in this snapshot yet.", icon=":material/inbox:"
    )
    st.stop()

ENTITY_LABELS = {"signal": "Signals", "candidate": "Candidates", "pursuit": "Pursuits"}
SCOPE_LABELS = {"open": "Open", "closed": "Closed", "all": "All"}

# Filter keys carry the org and snapshot version, as on the Overview page.
filter_key = f"{org}_{snap.version}"
# Owners are filtered by id and shown by name (else the id).
names = users.user_names(snap.path, snap.version, org)
with ui.page_sidebar():
    st.markdown("**Filters**")
    scope = st.radio(
        "Show",
        list(queries.SCOPES),
        format_func=SCOPE_LABELS.__getitem__,
        horizontal=True,
        help="Open: still being worked. Closed: linked or dismissed signals, promoted or archived "
        "candidates, won or lost pursuits. All: both.",
        key=f"pipeline_scope_{filter_key}",
    )
    entity_types = st.multiselect(
        "Entity types",
        list(queries.ENTITY_TYPES),
        placeholder="All entity types",
        format_func=lambda t: ENTITY_LABELS.get(t, t),
        key=f"pipeline_types_{filter_key}",
    )
    owners = st.multiselect(
        "Owners",
        options["owners"],
        placeholder="All owners",
        format_func=lambda o: "— (unassigned)" if o == queries.UNASSIGNED else names.get(o, o),
        key=f"pipeline_owners_{filter_key}",
    )
    # Every state present, whatever the entity-type filter: the vocabularies do not overlap, and fixed
    # options keep a picked state from vanishing when the type filter changes.
    state_of = view.state_types(view.states_in_scope(options["states"], queries.CLOSED_STATES, scope))
    states = st.multiselect(
        "States",
        list(state_of),
        placeholder="All states",
        format_func=lambda s: f"{ui.word(s)} ({ui.word(state_of[s]).lower()})",
        key=f"pipeline_states_{scope}_{filter_key}",
    )

filters = (tuple(sorted(entity_types)), tuple(sorted(owners)), tuple(sorted(states)), scope)
counts = queries.pipeline_counts(snap.path, snap.version, org, *filters)
per_type = view.entities_per_type(counts)
prefix = "" if scope == "all" else f"{SCOPE_LABELS[scope]} "
metric_cols = st.columns(len(ENTITY_LABELS) + 1)
for column, (entity_type, label) in zip(metric_cols, ENTITY_LABELS.items(), strict=False):
    column.metric(
        f"{prefix}{label.lower() if prefix else label}",
        ui.format_int(per_type.get(entity_type, 0)),
        help=f"{label} within the filters.",
    )
metric_cols[-1].metric(
    f"{prefix}value" if prefix else "Value",
    ui.format_usd(counts["value_usd"].sum() if counts.height else 0),
    help="Forecast value of these pursuits (missing forecasts count 0).",
)
if scope == "open":
    # The closed ones are counted apart, never in the figures above.
    closed = view.entities_per_type(
        queries.pipeline_counts(snap.path, snap.version, org, *filters[:3], "closed")
    )
    if closed:
        st.caption(
            "Not counted above, closed: "
            + " · ".join(
                f"{ui.format_int(closed[t])} {label.lower()}"
                for t, label in ENTITY_LABELS.items()
                if t in closed
            )
            + ". Choose *Closed* under **Show** to see them."
        )
if any(filters[:3]):
    st.caption(
        f"Filtered view: {ui.format_int(int(counts['entities'].sum() or 0))} entities match the filters."
    )

if counts.is_empty():
    st.info("No entities match these filters.", icon=":material/filter_alt_off:")
else:
    state_col, owner_col = st.columns(2)
    with state_col:
        st.subheader("By state")
        st.plotly_chart(
            charts.entities_by_state(counts),
            width="stretch",
            config={"displaylogo": False},
            key="pipeline_state_chart",
        )
    with owner_col:
        st.subheader("By owner")
        st.plotly_chart(
            charts.entities_by_owner(counts, queries.UNASSIGNED),
            width="stretch",
            config={"displaylogo": False},
            key="pipeline_owner_chart",
        )
    with st.expander("Counts by entity type, state and owner", icon=":material/table:"):
        st.dataframe(
            view.counts_table(counts),
            width="stretch",
            hide_index=True,
            placeholder=ui.MISSING,
            column_config={
                "entity_type": st.column_config.TextColumn("Type"),
                "state": st.column_config.TextColumn("State"),
                "owner": st.column_config.TextColumn("Owner", help="— = unassigned"),
                "entities": st.column_config.NumberColumn("Entities", format="localized"),
                "value_usd": ui.usd_column("Forecast value", help="Pursuits only."),
            },
        )

st.subheader("Entities")
entities = queries.pipeline_entities(snap.path, snap.version, org, *filters)
if entities.is_empty():
    st.info("No entities match these filters.", icon=":material/filter_alt_off:")
    st.stop()

total = int(counts["entities"].sum() or 0)
st.dataframe(
    ui.for_display(view.entities_table(entities)).insert_column(
        0, ui.item_links(entities, org, "entity_type", "entity_id")
    ),
    width="stretch",
    hide_index=True,
    placeholder=ui.MISSING,
    column_config={
        "open": ui.link_column(pinned=True, help="The item page of a candidate or pursuit."),
        "label": st.column_config.TextColumn(
            "Item",
            width="medium",
            pinned=True,
            help="Signal: where it came from. Candidate: its title. Pursuit: its candidate's title, else its "
            "client.",
        ),
        "client": st.column_config.TextColumn("Client"),
        "entity_type": st.column_config.TextColumn("Type"),
        "state": st.column_config.TextColumn("State"),
        "owner": st.column_config.TextColumn("Owner"),
        "value_usd": ui.usd_column("Forecast value", help="Pursuits only."),
        "entered_state_at": st.column_config.TextColumn("In state since"),
        "last_event_at": st.column_config.TextColumn("Last event"),
        "entity_id": st.column_config.TextColumn("ID"),
    },
)
if entities.height < total:
    st.caption(f"Showing the {entities.height:,} most recently active of {total:,}.")

st.subheader("Timeline")
described = view.entity_choices(entities)
picked = st.selectbox(
    "Entity",
    list(described),
    format_func=lambda k: described.get(k, k),
    help="Type to search by id, title or state. The list follows the filters.",
    key=f"pipeline_entity_{filter_key}",
)
entity_type, entity_id = view.parse_entity_key(picked)
timeline = queries.entity_timeline(snap.path, snap.version, org, entity_type, entity_id)
if timeline.is_empty():
    st.info(
        f"No events recorded for {ui.escape_markdown(described.get(picked, entity_id))}.",
        icon=":material/inbox:",
    )
    st.stop()

st.caption(
    f"{timeline.height} event(s): "
    + " · ".join(f"{n} {outcome}" for outcome, n in view.outcome_counts(timeline).items())
)
st.dataframe(
    ui.for_display(view.timeline_table(timeline)),
    width="stretch",
    hide_index=True,
    placeholder=ui.MISSING,
    column_config={
        "occurred_at": st.column_config.TextColumn("Occurred (UTC)"),
        "outcome": st.column_config.TextColumn(
            "Outcome",
            help="applied: changed this entity's state. warned: applied although it broke a rule. "
            "rejected: broke a rule and was not applied. no state change: did not move this entity.",
        ),
        "event_name": st.column_config.TextColumn("Event"),
        "from_state": st.column_config.TextColumn("From", help="— on creation."),
        "to_state": st.column_config.TextColumn("To"),
        "rule": st.column_config.TextColumn("Rule broken"),
        "detail": st.column_config.TextColumn("Why"),
        "actor": st.column_config.TextColumn("Actor"),
        "event_id": st.column_config.TextColumn("Event ID"),
    },
)
