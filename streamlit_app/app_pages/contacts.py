"""Contacts: the people of the org per client, and for one person their records, signals, the candidates
and pursuits those signals led to, and the memory about them.

A person is a resolved identity (`marts.contacts`, docs/identity.md): the contact records and signal
senders identity resolution put together. A signal of a known person that no candidate links yet is a
suggestion to look at the person's open work; nothing is linked automatically.
"""

from __future__ import annotations

import polars as pl
import streamlit as st

from streamlit_app.lib import ui
from streamlit_app.lib.queries import identity as queries

ctx = ui.page_context("Contacts")
snap, org = ctx.snapshot, ctx.org_id
st.caption(ui.scope_caption(ctx))

people = queries.contacts(snap.path, snap.version, org)
if people.is_empty():
    st.info(f"No contacts for **{org}** in this snapshot.", icon=":material/inbox:")
    st.stop()

people_col, clients_col, merged_col = st.columns(3)
people_col.metric("People", ui.format_int(people.height))
clients_col.metric("Clients with people", ui.format_int(people["client_id"].drop_nulls().n_unique()))
merged_col.metric(
    "People seen more than once",
    ui.format_int(people.filter(people["records"] > 1).height),
    help="People whose records (contacts, signal senders) identity resolution put together.",
)

# Clients and people are picked by name; the ids stay the values, so two with one name stay apart.
client_names = {
    r["client_id"]: r["client_name"] or r["client_id"]
    for r in people.iter_rows(named=True)
    if r["client_id"] is not None
}
clients = ["(all)", *sorted(client_names, key=lambda c: (client_names[c], c)), "(no client)"]
client = st.selectbox(
    "Client", clients, format_func=lambda c: client_names.get(c) or c, key="contacts_client"
)
shown = people
if client == "(no client)":
    shown = people.filter(people["client_id"].is_null())
elif client != "(all)":
    shown = people.filter(people["client_id"] == client)
st.dataframe(
    # The person and the client by name first; the ids last (the client's is its name's twin).
    ui.for_display(shown.select(pl.all().exclude("contact_id", "client_id"), "contact_id")),
    width="stretch",
    hide_index=True,
    placeholder=ui.MISSING,
    column_config={
        "name": st.column_config.TextColumn("Person", pinned=True),
        "client_name": st.column_config.TextColumn("Client"),
        "contact_id": st.column_config.TextColumn("ID"),
        "records": st.column_config.NumberColumn("Records", help="Source records that are this person."),
        "signals": st.column_config.NumberColumn("Signals"),
    },
)

person_names = {r["contact_id"]: r["name"] for r in shown.iter_rows(named=True)}
person = st.selectbox(
    "Person",
    shown["contact_id"].to_list(),
    format_func=lambda c: f"{person_names.get(c) or c} ({c})",
    key="contacts_person",
)
if not person:
    st.stop()
row = shown.filter(shown["contact_id"] == person).row(0, named=True)
st.subheader(row["name"] or person)

st.markdown("**Records** — the source records that are this person, and why")
st.dataframe(
    ui.for_display(queries.person_links(snap.path, snap.version, org, person)),
    width="stretch",
    hide_index=True,
)

signals = queries.person_signals(snap.path, snap.version, org, person)
st.markdown("**Signals**")
if signals.is_empty():
    st.caption("No signals from this person.")
else:
    st.dataframe(ui.for_display(signals), width="stretch", hide_index=True, placeholder=ui.MISSING)

work = queries.person_work(snap.path, snap.version, org, person)
st.markdown("**Candidates and pursuits**")
if work.is_empty():
    st.caption("No candidate links this person's signals.")
else:
    st.dataframe(
        ui.for_display(
            work.select(
                "title",
                pl.col("candidate_status").map_elements(ui.word, return_dtype=pl.String),
                pl.col("stage").map_elements(ui.word, return_dtype=pl.String),
                "forecast_value_usd",
                "candidate_id",
                "pursuit_id",
            )
        ),
        width="stretch",
        hide_index=True,
        placeholder=ui.MISSING,
        column_config={
            "title": st.column_config.TextColumn("Candidate", pinned=True),
            "candidate_status": st.column_config.TextColumn("Status"),
            "stage": st.column_config.TextColumn("Pursuit stage"),
            "forecast_value_usd": ui.usd_column("Forecast value"),
            "candidate_id": st.column_config.TextColumn("Candidate ID"),
            "pursuit_id": st.column_config.TextColumn("Pursuit ID"),
        },
    )
    open_work = work.filter(~work["candidate_status"].is_in(["archived"]))
    waiting = signals.filter(signals["linked_candidate_id"].is_null() & (signals["status"] != "dismissed"))
    if not open_work.is_empty() and not waiting.is_empty():
        st.info(
            f"Suggestion: {waiting.height} signal(s) of this person are not linked to a candidate yet, while "
            f"candidate {open_work['candidate_id'][0]} is their open work. Link them on that candidate if they "
            "belong to it (nothing is linked automatically).",
            icon=":material/lightbulb:",
        )

memory = queries.person_memory(snap.path, snap.version, org, person)
st.markdown("**Memory**")
if memory.is_empty():
    st.caption("No live memory about this person's signals and work.")
else:
    st.dataframe(ui.for_display(memory), width="stretch", hide_index=True, placeholder=ui.MISSING)
