"""Memory: what the org remembers about a client, candidate, pursuit or signal, and how to govern it.

The card (`marts.memory_cards`) is the budgeted summary the pipeline built: key facts, recent
activity, decisions, risks and top atoms. The timeline lists the entity's live atoms
(`marts.memory_atoms`, newest first); a client's card and timeline roll up every atom of its
candidates, pursuits and signals. Search runs over the snapshot's BM25 index (`marts.memory_search`).

Redact and correct never touch the snapshot: they drop `memory.redacted` / `memory.corrected` events
into the inbox (`lib/governance.py`), after a confirmation that names every atom they act on. A redaction
can take along the other atoms of the entity that hold the same text (one event per atom, one file). The
request stays "pending" in this session until a published snapshot shows its effect, then reads "applied".
Only the org's governors and admins see the form; the signed-in user is the events' actor, and each event
is written to the access audit (`governance.requested`: ids only, never the memory's text).
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from dagster_project import access
from dagster_project.settings import default_clock
from streamlit_app.lib import auth, governance, settings, ui
from streamlit_app.lib.queries import memory as queries
from streamlit_app.lib.queries import snapshot
from streamlit_app.lib.views import memory as view

REQUESTS_KEY = "memory_governance_requests"
FLASH_KEY = "memory_governance_flash"
# The one request waiting for its confirmation (at most one per session: the one on screen).
CONFIRM_KEY = "memory_governance_confirm"
TYPE_LABELS = {"client": "Client", "candidate": "Candidate", "pursuit": "Pursuit", "signal": "Signal"}
SECTION_TITLES = {
    "key_facts": "Key facts",
    "recent_activity": "Recent activity",
    "decisions": "Decisions",
    "risks": "Risks",
    "top_atoms": "Top atoms",
}


def _requests() -> list[dict[str, Any]]:
    return st.session_state.setdefault(REQUESTS_KEY, [])


def _requests_section(snap: snapshot.Snapshot, org: str) -> None:
    """This session's governance requests for the org, each with its status in the current snapshot."""
    mine = view.requests_of(_requests(), org)
    if not mine:
        return
    st.subheader("Your requests")
    live = queries.memory_atom_states(
        snap.path, snap.version, org, tuple(sorted({r["atom_id"] for r in mine}))
    )
    rows = view.requests_table(mine, live)
    pending = rows.filter(rows["status"] == view.PENDING).height
    st.caption(
        f"{pending} pending of {rows.height}. A request takes effect when the next pipeline run "
        "(`workstream run`) ingests the inbox and publishes a snapshot; reload then."
    )
    st.dataframe(
        ui.for_display(rows),
        width="stretch",
        hide_index=True,
        placeholder=ui.MISSING,
        column_config={
            "requested_at": st.column_config.TextColumn("Requested (UTC)"),
            "status": st.column_config.TextColumn(
                "Status",
                help="pending: the snapshot does not show it yet. applied: the atom is gone (redact) or "
                "has its new content (correct).",
            ),
            "action": st.column_config.TextColumn("Action"),
            "atom_id": st.column_config.TextColumn("Atom"),
            "entity": st.column_config.TextColumn("Entity"),
            "reason": st.column_config.TextColumn("Reason"),
            "content": st.column_config.TextColumn("New content", help="— for a redaction."),
            "file": st.column_config.TextColumn("Inbox file"),
        },
    )


def _confirmation(snap: snapshot.Snapshot, org: str, pending: dict[str, Any]) -> None:
    """Name every atom the request acts on; write it only on "Confirm" and only if each is still as shown."""
    action = pending["action"]
    refs: list[governance.AtomRef] = pending["atoms"]
    noun = "redaction" if action == governance.REDACTED else "correction"
    suffix = f"{pending['scope']}_{pending['atom_id']}"
    with st.container(border=True):
        st.markdown(f"**Confirm the {noun}.** It acts on exactly {len(refs)} atom(s):")
        st.markdown(
            "\n".join(f"- {ui.escape_markdown(line)}" for line in governance.confirmation_lines(action, refs))
        )
        if pending["content"] is not None:
            st.markdown(
                f"New content: \u201c{ui.escape_markdown(governance.first_words(pending['content']))}\u201d"
            )
        st.caption(
            f"Reason: {ui.escape_markdown(pending['reason'])} · by {ui.escape_markdown(pending['actor'])}. "
            "Nothing is written until you confirm."
        )
        confirm_col, cancel_col = st.columns(2)
        confirmed = confirm_col.button(f"Confirm {noun}", type="primary", key=f"memory_confirm_{suffix}")
        cancelled = cancel_col.button("Cancel", key=f"memory_cancel_{suffix}")
    if cancelled:
        st.session_state.pop(CONFIRM_KEY, None)
        st.rerun()
    if not confirmed:
        return
    st.session_state.pop(CONFIRM_KEY, None)
    who = auth.principal()
    if not who.can_govern(org) or who.email != pending["actor"]:
        # The grant was withdrawn, or another user signed in, since the request was made.
        st.error("Your account may not request this. Nothing was written.", icon=":material/block:")
        return
    states = queries.memory_atom_states(
        snap.path, snap.version, org, tuple(sorted({r.atom_id for r in refs}))
    )
    changed = view.changed_atoms(refs, states)
    if changed:
        st.error(
            f"Atom(s) {', '.join(changed)} changed or are no longer live in this snapshot. Nothing was "
            "written; review the atom and request again.",
            icon=":material/error:",
        )
        return
    now = default_clock().now()
    try:
        written, events = governance.write_requests(
            settings.inbox_path(),
            event_name=action,
            org_id=org,
            atoms=refs,
            actor=pending["actor"],
            reason=pending["reason"],
            content=pending["content"],
            now=now,
        )
    except (ValueError, OSError) as exc:
        st.error(f"The request could not be written: {exc}", icon=":material/error:")
        return
    for event in events:
        access.audit(
            settings.workstream_home(),
            "governance.requested",
            actor=who.user_id,
            now=now,
            org_id=org,
            target=str(event["event_id"]),
            detail={"event_name": action, "atom_id": event["payload"]["atom_id"], "file": written.name},
        )
    _requests().extend(
        view.request_records(
            events,
            refs,
            action=action,
            org_id=org,
            reason=pending["reason"],
            content=pending["content"],
            requested_at=now,
            file_name=written.name,
        )
    )
    st.session_state[FLASH_KEY] = (
        f"{view.ACTION_LABELS[action]} request for {len(events)} atom(s) written to the inbox as `{written.name}`; "
        "it shows as pending until a snapshot reflects it."
    )
    # A fresh form for the next request.
    for key in (f"memory_reason_{action}_{suffix}", f"memory_new_content_{suffix}", f"memory_also_{suffix}"):
        st.session_state.pop(key, None)
    # Rerun so the picker and the request list above already show the new request.
    st.rerun()


ctx = ui.page_context("Memory")
snap, org = ctx.snapshot, ctx.org_id
st.caption(ui.scope_caption(ctx))

entities = queries.memory_entities(snap.path, snap.version, org)
if entities.is_empty():
    st.info(f"No memory cards for **{org}** in this snapshot yet.", icon=":material/psychology:")
    _requests_section(snap, org)
    st.stop()

# ------------------------------------------------------------------------------------------ picker

per_type = view.entity_counts(entities)
types = view.entity_types(per_type)
type_key = f"memory_type_{org}"
if st.session_state.get(type_key) not in types:
    # A new snapshot may no longer hold the previous choice.
    st.session_state.pop(type_key, None)
type_col, entity_col = st.columns([1, 3])
entity_type = type_col.selectbox(
    "Entity type",
    types,
    format_func=lambda t: f"{TYPE_LABELS.get(t, t)} ({per_type[t]})",
    key=type_key,
)
# Keyed by the type too, so a choice made for one entity type never carries over to another.
entity_key = f"memory_entity_{org}_{entity_type}"
described = view.entity_labels(entities, entity_type)
entity_ids = list(described)
if st.session_state.get(entity_key) not in entity_ids:
    st.session_state.pop(entity_key, None)
entity_id = entity_col.selectbox(
    "Entity",
    entity_ids,
    format_func=lambda i: described.get(i, i),
    help="Type to search by id or title. A client's card rolls up its candidates, pursuits and signals.",
    key=entity_key,
)

# -------------------------------------------------------------------------------------------- card

card = queries.memory_card(snap.path, snap.version, org, entity_type, entity_id)
st.subheader(f"{TYPE_LABELS.get(entity_type, entity_type)} {described.get(entity_id, entity_id)}")
if card is None:
    st.info(f"No card for {entity_type} **{entity_id}** in this snapshot.", icon=":material/inbox:")
else:
    total_col, version_col, _ = st.columns(3)
    total_col.metric("Live atoms", ui.format_int(card["atoms_total"]), help="Live atoms behind this card.")
    version_col.metric("Card version", ui.format_int(card["version"]), help="Memory changes behind the card.")
    st.caption(
        f"Built as of {ui.format_ts(card['built_at'])} · ETag `{card['etag'] or '—'}` "
        "(a hash of what the card shows)."
    )
    left, right = st.columns(2)
    for column, sections in ((left, ("key_facts", "decisions")), (right, ("recent_activity", "risks"))):
        with column:
            for section in sections:
                st.markdown(f"**{SECTION_TITLES[section]}**")
                st.markdown(view.items_markdown(card[section]))
    with st.expander(f"Top atoms ({len(card['top_atoms'])})", expanded=True, icon=":material/star:"):
        st.markdown(view.items_markdown(card["top_atoms"]))

# ---------------------------------------------------------------------------------------- timeline

st.subheader("Timeline")
timeline = queries.memory_timeline(snap.path, snap.version, org, entity_type, entity_id)
if timeline.is_empty():
    st.info(f"No live atoms for {entity_type} **{entity_id}**.", icon=":material/inbox:")
else:
    if timeline.height >= queries.MEMORY_TIMELINE_ROWS:
        st.caption(f"Showing the {timeline.height:,} most recent live atoms.")
    shown = view.timeline_table(timeline)
    st.dataframe(
        ui.for_display(shown),
        width="stretch",
        hide_index=True,
        placeholder=ui.MISSING,
        column_config={
            "occurred_at": st.column_config.TextColumn("Occurred (UTC)"),
            "atom_type": st.column_config.TextColumn("Type"),
            "content": st.column_config.TextColumn("Content", width="large"),
            "score": st.column_config.NumberColumn(
                "Score", format="%.0f", help="Type score × trust (0–100)."
            ),
            "relevance": st.column_config.NumberColumn(
                "Relevance", format="%.1f", help="Score decayed by age (half-life per type)."
            ),
            "source": st.column_config.TextColumn("Source"),
            "about": st.column_config.TextColumn("Entity", help="The atom's own entity (client roll-ups)."),
            "atom_id": st.column_config.TextColumn("Atom"),
            "version": st.column_config.NumberColumn(
                "Version", format="localized", help="Goes up with each correction."
            ),
        },
    )

# ------------------------------------------------------------------------------------------ search

st.subheader("Search")
query_col, scope_col = st.columns([3, 1])
query = query_col.text_input(
    "Search memory",
    placeholder="e.g. pricing, budget, decision",
    help="Full-text search (stemmed) over the organisation's live atoms; the best match scores 1.0, and "
    "of equal matches the more relevant memory comes first.",
    key=f"memory_query_{org}",
)
only_card = scope_col.toggle("Only this card", key=f"memory_only_card_{org}")
if query.strip():
    try:
        hits = queries.memory_search(
            snap.path,
            snap.version,
            org,
            query.strip(),
            **view.search_scope(only_card, entity_type, entity_id),
            limit=queries.SEARCH_FETCH,
        )
        hits = view.dedupe_hits(hits, queries.SEARCH_HITS)
    except snapshot.SnapshotIncompatible as exc:
        hits = None
        st.warning(
            "Search is unavailable: this snapshot has no memory search index. Re-publish it with "
            f"`workstream run`.\n\n`{exc}`",
            icon=":material/search_off:",
        )
    if hits is not None and hits.is_empty():
        st.info("No live memory matches this search.", icon=":material/search_off:")
    elif hits is not None:
        st.caption(f"{hits.height} hit(s), best first; identical text on several records is one hit.")
        clients = queries.client_names(snap.path, snap.version, org)
        for hit in hits.iter_rows(named=True):
            client = clients.get(hit["client_id"]) or hit["client_id"]
            copies = (
                f" · **{hit['copies']} copies** ({ui.escape_markdown(', '.join(hit['entities'][1:]))} too)"
                if hit["copies"] > 1
                else ""
            )
            with st.container(border=True):
                st.markdown(
                    f"{ui.atom_badge(hit['atom_type'])} **{ui.escape_markdown(ui.word(hit['entity_type']))} "
                    f"{ui.escape_markdown(hit['entity_id'])}**"
                    + (f" · client **{ui.escape_markdown(client)}**" if client else "")
                    + f" · score {hit['score']:.2f} · {ui.format_ts(hit['occurred_at'])}{copies}  \n"
                    f"{ui.escape_snippet(hit['snippet'])}"
                )

# -------------------------------------------------------------------------------- redact / correct
# Every widget here is keyed by the record on screen (`scope`) and the atom, so switching entity type or
# entity starts a fresh picker and form: nothing chosen for one record can be submitted for another. A
# request is written only after a confirmation that names each atom it acts on, and only if the record
# on screen is still the one it was made for.

st.subheader("Redact or correct")
who = auth.principal()
if not who.can_govern(org):
    st.caption(
        "Redactions and corrections are requested by the organisation's governors and admins; your account "
        "may read its memory only."
    )
    st.session_state.pop(CONFIRM_KEY, None)
elif timeline.is_empty():
    st.info("Pick an entity with live atoms to redact or correct one.", icon=":material/inbox:")
    st.session_state.pop(CONFIRM_KEY, None)
else:
    scope = governance.scope_key(org, entity_type, entity_id)
    atoms = {row["atom_id"]: row for row in timeline.iter_rows(named=True)}
    mine = view.requests_of(_requests(), org)
    live = (
        queries.memory_atom_states(snap.path, snap.version, org, tuple(sorted({r["atom_id"] for r in mine})))
        if mine
        else {}
    )
    pending_ids = view.pending_atom_ids(mine, live)

    atom_key = f"memory_atom_{scope}"
    if st.session_state.get(atom_key) not in atoms:
        st.session_state.pop(atom_key, None)
    atom_id = st.selectbox(
        "Atom", list(atoms), format_func=lambda i: view.atom_label(atoms.get(i), i, pending_ids), key=atom_key
    )
    atom = atoms[atom_id]
    action = st.radio(
        "Action",
        list(view.ACTION_LABELS),
        format_func=lambda name: {
            governance.REDACTED: "Redact: remove the content everywhere",
            governance.CORRECTED: "Correct: replace the content, keep the atom",
        }[name],
        horizontal=True,
        key=f"memory_action_{scope}",
    )
    same_text = queries.memory_same_text(
        snap.path, snap.version, org, entity_type, entity_id, atom["content"]
    )
    copies = view.other_copies(same_text, atom_id)
    if copies:
        st.warning(
            f"The text of this atom is also in {len(copies)} other live atom(s) of "
            f"{entity_type} {ui.escape_markdown(entity_id)}:\n\n"
            + "\n".join(f"- {ui.escape_markdown(view.copy_line(row))}" for row in copies.values()),
            icon=":material/content_copy:",
        )
    with st.form(f"memory_form_{action}_{scope}_{atom_id}"):
        st.caption(f"Requested by **{ui.escape_markdown(who.email)}** (you), recorded as the events' actor.")
        new_content = None
        also: list[str] = []
        if action == governance.CORRECTED:
            new_content = st.text_area(
                "New content", value=atom["content"], key=f"memory_new_content_{scope}_{atom_id}"
            )
            if copies:
                st.caption("A correction changes this atom only; redact the others to erase their copies.")
        elif copies:
            also = st.multiselect(
                "Also redact the same text in",
                list(copies),
                default=list(copies),
                format_func=lambda i: view.copy_line(copies[i]),
                key=f"memory_also_{scope}_{atom_id}",
                help="One request: one redaction event per atom, each in the audit trail.",
            )
        reason = st.text_area(
            "Reason",
            key=f"memory_reason_{action}_{scope}_{atom_id}",
            help="Required; kept in the audit trail.",
        )
        submitted = st.form_submit_button(
            "Request redaction" if action == governance.REDACTED else "Request correction", type="primary"
        )
    if flash := st.session_state.pop(FLASH_KEY, None):
        st.success(flash, icon=":material/outbox:")

    pending = st.session_state.get(CONFIRM_KEY)
    if pending is not None and (
        pending["org_id"],
        pending["scope"],
        pending["atom_id"],
        pending["action"],
    ) != (
        org,
        scope,
        atom_id,
        action,
    ):
        # The record on screen is no longer the one the request was made for: drop it unwritten.
        st.session_state.pop(CONFIRM_KEY, None)
        if pending["org_id"] == org:
            st.info(
                "An unconfirmed request was dropped because another atom is on screen now. Nothing was written.",
                icon=":material/undo:",
            )
        pending = None

    if submitted:
        problem = view.request_problem(who.email, reason, action, new_content, atom["content"])
        if problem:
            st.session_state.pop(CONFIRM_KEY, None)
            pending = None
            st.error(problem, icon=":material/error:")
        else:
            targets = [atom] + [copies[i] for i in also if i in copies]
            pending = {
                "org_id": org,
                "scope": scope,
                "atom_id": atom_id,
                "action": action,
                "atoms": [view.atom_ref(row) for row in targets],
                "actor": who.email,
                "reason": reason.strip(),
                "content": new_content.strip() if new_content is not None else None,
            }
            st.session_state[CONFIRM_KEY] = pending

    if pending is not None:
        _confirmation(snap, org, pending)

_requests_section(snap, org)
