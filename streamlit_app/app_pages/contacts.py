"""Contacts: the people of the org per client, and for one person their records, signals, the candidates
and pursuits those signals led to, and the memory about them.

A person is a resolved identity (`marts.contacts`, docs/identity.md): the contact records and signal
senders identity resolution put together. A signal of a known person that no candidate links yet is a
suggestion to look at the person's open work; nothing is linked automatically.

A governor of the org (or an admin) can ask to forget the person shown: a confirmation names them, then a
`contact.erased` event goes to the inbox (`lib/identity_requests.py`, which checks the grant again) and the
next run removes their personal fields from every table and file under the home (docs/identity.md).
"""

from __future__ import annotations

import polars as pl
import streamlit as st

from dagster_project.settings import default_clock
from streamlit_app.lib import auth, identity_requests, settings, ui
from streamlit_app.lib.queries import identity as queries

# Session-state keys: the request waiting for its confirmation, and the message after a rerun.
FORGET_KEY = identity_requests.FORGET_PENDING_KEY
FLASH_KEY = "contacts_forget_flash"

ctx = ui.page_context("Contacts")
who = auth.principal()
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
# The person and the client by name first; the ids last (the client's is its name's twin).
ui.labelled_table(
    shown.select(pl.all().exclude("contact_id", "client_id"), "contact_id"),
    {
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
ui.labelled_table(queries.person_links(snap.path, snap.version, org, person))

signals = queries.person_signals(snap.path, snap.version, org, person)
st.markdown("**Signals**")
if signals.is_empty():
    st.caption("No signals from this person.")
else:
    ui.labelled_table(signals)

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
    ui.labelled_table(memory)


# -------------------------------------------------------------------------------- forget this person
# A request is a step and a confirmation: the confirmation names the person and is honoured only for the
# person, org and user it was made for; `request_erasure` judges the grant again from the access store.

st.subheader("Forget this person")
if flash := st.session_state.pop(FLASH_KEY, None):
    st.success(flash, icon=":material/check_circle:")
pending = st.session_state.get(FORGET_KEY)
confirming = isinstance(pending, dict) and (
    pending.get("org"),
    pending.get("contact_id"),
    pending.get("actor"),
) == (org, person, who.email)
if not who.can_govern(org):
    st.session_state.pop(FORGET_KEY, None)
    st.caption("Only the organisation's governors and admins can ask to forget a person.")
elif not confirming:
    st.session_state.pop(FORGET_KEY, None)
    st.caption(
        "Forgetting removes the person's name, email, phone and free text naming them from every table and "
        "file after the next run; an audit row keeps hashes only. It cannot be undone."
    )
    reason = st.selectbox("Why", identity_requests.ERASURE_REASONS, key="contacts_forget_reason")
    if st.button("Forget this person…", key="contacts_forget"):
        st.session_state[FORGET_KEY] = {
            "org": org,
            "contact_id": person,
            "actor": who.email,
            "reason": reason,
        }
        st.rerun()
else:
    with st.container(border=True):
        st.markdown(
            f"**Forget {ui.escape_markdown(row['name'] or person)}** (person `{ui.escape_markdown(person)}`, "
            f"{ui.format_int(row['records'])} record(s)) in **{ui.escape_markdown(org)}**? Their personal "
            "fields leave every table and file after the next run. This cannot be undone."
        )
        st.caption(
            f"Reason: {ui.escape_markdown(pending.get('reason'))} · by {ui.escape_markdown(who.email)}."
        )
        confirm_col, cancel_col = st.columns(2)
        confirmed = confirm_col.button(
            "Confirm: forget this person", type="primary", key="contacts_forget_yes"
        )
        cancelled = cancel_col.button("Cancel", key="contacts_forget_no")
    if cancelled:
        st.session_state.pop(FORGET_KEY, None)
        st.rerun()
    if confirmed:
        st.session_state.pop(FORGET_KEY, None)
        try:
            written, _ = identity_requests.request_erasure(
                settings.workstream_home(),
                settings.inbox_path(),
                who,
                org_id=org,
                contact_id=person,
                known_contact_ids=set(people["contact_id"].to_list()),
                # Only a listed reason: a session could hold any text, and this event is never scrubbed.
                reason=pending.get("reason")
                if pending.get("reason") in identity_requests.ERASURE_REASONS
                else None,
                now=default_clock().now(),
            )
        except PermissionError as exc:
            st.error(str(exc), icon=":material/block:")
        except (ValueError, OSError) as exc:
            st.error(f"The request could not be written: {exc}", icon=":material/error:")
        else:
            st.session_state[FLASH_KEY] = (
                f"Request to forget this person written to the inbox as `{written.name}`; the next run applies it."
            )
            st.rerun()
