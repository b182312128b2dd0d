"""Memory: what the org remembers about a client, candidate, pursuit or signal, and how to govern it.

The card (`marts.memory_cards`) is the budgeted summary the pipeline built: key facts, recent
activity, decisions, risks and top atoms. The timeline lists the entity's live atoms
(`marts.memory_atoms`, newest first); a client's card and timeline roll up every atom of its
candidates, pursuits and signals. Search runs over the snapshot's BM25 index (`marts.memory_search`).

Redact and correct never touch the snapshot: they drop `memory.redacted` / `memory.corrected` events
into the inbox (`lib/governance.py`), after a confirmation that names every atom they act on. A redaction
can take along the other atoms of the entity that hold the same text (one event per atom, one file). The
request stays "pending" in this session until a published snapshot shows its effect, then reads "applied".
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import polars as pl
import streamlit as st

from dagster_project.settings import default_clock
from streamlit_app.lib import governance, settings, ui
from streamlit_app.lib.queries import memory as queries
from streamlit_app.lib.queries import snapshot

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
ACTION_LABELS = {governance.REDACTED: "Redact", governance.CORRECTED: "Correct"}
EMAIL_PATTERN = re.compile(r"[^@\s]+@[^@\s]+")
PENDING, APPLIED, GONE = "pending", "applied", "atom no longer live"


def _item_time(value: Any) -> str:
    if not value:
        return "—"
    try:
        return ui.format_ts(dt.datetime.fromisoformat(str(value).replace("Z", "+00:00")))
    except ValueError:
        return ui.escape_markdown(str(value))


def _items_markdown(items: list[dict[str, Any]]) -> str:
    if not items:
        return "—"
    return "\n".join(
        f"- {ui.atom_badge(item.get('atom_type'))} {ui.escape_markdown(item.get('content')).strip()} "
        f"· _{_item_time(item.get('occurred_at'))}_"
        for item in items
    )


def _requests() -> list[dict[str, Any]]:
    return st.session_state.setdefault(REQUESTS_KEY, [])


def _status(request: dict[str, Any], live: dict[str, dict]) -> str:
    """Pending until the snapshot shows the effect: a redacted atom is gone; a corrected one has a higher
    version or the new content."""
    atom = live.get(request["atom_id"])
    if request["event_name"] == governance.REDACTED:
        return APPLIED if atom is None else PENDING
    if atom is None:
        return GONE
    if atom["content"] == request["content"] or (atom["version"] or 0) > (request["base_version"] or 0):
        return APPLIED
    return PENDING


def _requests_section(snap: snapshot.Snapshot, org: str) -> None:
    """This session's governance requests for the org, each with its status in the current snapshot."""
    mine = [r for r in _requests() if r["org_id"] == org]
    if not mine:
        return
    st.subheader("Your requests")
    live = queries.memory_atom_states(
        snap.path, snap.version, org, tuple(sorted({r["atom_id"] for r in mine}))
    )
    rows = pl.DataFrame(
        [
            {
                "requested_at": r["requested_at"],
                "status": _status(r, live),
                "action": ACTION_LABELS[r["event_name"]],
                "atom_id": r["atom_id"],
                "entity": f"{r['entity_type']} {r['entity_id']}",
                "reason": r["reason"],
                "content": r["content"],
                "file": r["file"],
            }
            for r in reversed(mine)
        ],
        schema={
            "requested_at": pl.Datetime("us", "UTC"),
            "status": pl.String,
            "action": pl.String,
            "atom_id": pl.String,
            "entity": pl.String,
            "reason": pl.String,
            "content": pl.String,
            "file": pl.String,
        },
    )
    pending = rows.filter(pl.col("status") == PENDING).height
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


def _copy_line(row: dict[str, Any]) -> str:
    """An atom named for a choice or a warning: entity, type, id and first words."""
    return (
        f"{row['entity_type']} {row['entity_id']} · {row['atom_type']} {row['atom_id']} · "
        f"\u201c{governance.first_words(row['content'])}\u201d"
    )


def _atom_ref(row: dict[str, Any]) -> governance.AtomRef:
    return governance.AtomRef(
        entity_type=row["entity_type"],
        entity_id=row["entity_id"],
        atom_id=row["atom_id"],
        atom_type=row["atom_type"],
        content=str(row["content"]),
        version=row["version"],
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
    states = queries.memory_atom_states(
        snap.path, snap.version, org, tuple(sorted({r.atom_id for r in refs}))
    )
    changed = [
        r.atom_id for r in refs if r.atom_id not in states or states[r.atom_id]["version"] != r.version
    ]
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
    by_id = {r.atom_id: r for r in refs}
    for event in events:
        ref = by_id[event["payload"]["atom_id"]]  # type: ignore[index]
        _requests().append(
            {
                "event_id": event["event_id"],
                "event_name": action,
                "org_id": org,
                "atom_id": ref.atom_id,
                "entity_type": ref.entity_type,
                "entity_id": ref.entity_id,
                "reason": pending["reason"],
                "content": pending["content"],
                "base_version": ref.version,
                "requested_at": now,
                "file": written.name,
            }
        )
    st.session_state[FLASH_KEY] = (
        f"{ACTION_LABELS[action]} request for {len(events)} atom(s) written to the inbox as `{written.name}`; "
        "it shows as pending until a snapshot reflects it."
    )
    # A fresh form for the next request (the email is kept).
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

per_type = dict(entities.group_by("entity_type").len().iter_rows())
types = [t for t in queries.MEMORY_ENTITY_TYPES if t in per_type]
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
of_type = entities.filter(pl.col("entity_type") == entity_type)
entity_ids = of_type["entity_id"].to_list()
described = {
    row["entity_id"]: f"{row['entity_id']}" + (f" · {row['label']}" if row["label"] else "")
    for row in of_type.iter_rows(named=True)
}
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
                st.markdown(_items_markdown(card[section]))
    with st.expander(f"Top atoms ({len(card['top_atoms'])})", expanded=True, icon=":material/star:"):
        st.markdown(_items_markdown(card["top_atoms"]))

# ---------------------------------------------------------------------------------------- timeline

st.subheader("Timeline")
timeline = queries.memory_timeline(snap.path, snap.version, org, entity_type, entity_id)
if timeline.is_empty():
    st.info(f"No live atoms for {entity_type} **{entity_id}**.", icon=":material/inbox:")
else:
    if timeline.height >= queries.MEMORY_TIMELINE_ROWS:
        st.caption(f"Showing the {timeline.height:,} most recent live atoms.")
    shown = timeline.with_columns(
        (pl.col("entity_type") + " " + pl.col("entity_id")).alias("about"),
    ).select(
        "occurred_at", "atom_type", "content", "score", "relevance", "source", "about", "atom_id", "version"
    )
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
    scope: dict[str, str | None] = {}
    if only_card:
        scope = (
            {"client_id": entity_id}
            if entity_type == "client"
            else {"entity_type": entity_type, "entity_id": entity_id}
        )
    try:
        hits = queries.memory_search(snap.path, snap.version, org, query.strip(), **scope)
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
        st.caption(f"{hits.height} hit(s), best first.")
        for hit in hits.iter_rows(named=True):
            with st.container(border=True):
                st.markdown(
                    f"{ui.atom_badge(hit['atom_type'])} **{ui.escape_markdown(hit['entity_type'])} "
                    f"{ui.escape_markdown(hit['entity_id'])}** · score {hit['score']:.2f} · "
                    f"{ui.format_ts(hit['occurred_at'])}  \n{ui.escape_snippet(hit['snippet'])}"
                )

# -------------------------------------------------------------------------------- redact / correct
# Every widget here is keyed by the record on screen (`scope`) and the atom, so switching entity type or
# entity starts a fresh picker and form: nothing chosen for one record can be submitted for another. A
# request is written only after a confirmation that names each atom it acts on, and only if the record
# on screen is still the one it was made for.

st.subheader("Redact or correct")
if timeline.is_empty():
    st.info("Pick an entity with live atoms to redact or correct one.", icon=":material/inbox:")
    st.session_state.pop(CONFIRM_KEY, None)
else:
    scope = governance.scope_key(org, entity_type, entity_id)
    atoms = {row["atom_id"]: row for row in timeline.iter_rows(named=True)}
    mine = [r for r in _requests() if r["org_id"] == org]
    live = (
        queries.memory_atom_states(snap.path, snap.version, org, tuple(sorted({r["atom_id"] for r in mine})))
        if mine
        else {}
    )
    pending_ids = {r["atom_id"] for r in mine if _status(r, live) == PENDING}

    def _describe(atom_id: str) -> str:
        # The id makes every label unique: two atoms with the same type, minute and text are still
        # two choices, and the label the browser sends back names exactly one of them.
        atom = atoms.get(atom_id)
        if atom is None:
            return str(atom_id)
        text = " ".join(str(atom["content"]).split())
        text = text if len(text) <= 80 else text[:79] + "…"
        flag = " · request pending" if atom_id in pending_ids else ""
        return f"{atom['atom_type']} · {ui.format_ts(atom['occurred_at'])} · {text} · {atom_id}{flag}"

    atom_key = f"memory_atom_{scope}"
    if st.session_state.get(atom_key) not in atoms:
        st.session_state.pop(atom_key, None)
    atom_id = st.selectbox("Atom", list(atoms), format_func=_describe, key=atom_key)
    atom = atoms[atom_id]
    action = st.radio(
        "Action",
        list(ACTION_LABELS),
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
    copies = {row["atom_id"]: row for row in same_text.iter_rows(named=True) if row["atom_id"] != atom_id}
    if copies:
        st.warning(
            f"The text of this atom is also in {len(copies)} other live atom(s) of "
            f"{entity_type} {ui.escape_markdown(entity_id)}:\n\n"
            + "\n".join(f"- {ui.escape_markdown(_copy_line(row))}" for row in copies.values()),
            icon=":material/content_copy:",
        )
    with st.form(f"memory_form_{action}_{scope}_{atom_id}"):
        actor = st.text_input("Your email", key="memory_actor", help="Recorded as the event's actor.")
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
                format_func=lambda i: _copy_line(copies[i]),
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
        problems = []
        if not EMAIL_PATTERN.fullmatch((actor or "").strip()):
            problems.append("your email")
        if not (reason or "").strip():
            problems.append("a reason")
        if action == governance.CORRECTED and not (new_content or "").strip():
            problems.append("the new content")
        if problems:
            st.session_state.pop(CONFIRM_KEY, None)
            pending = None
            st.error(
                "Please give " + " and ".join(problems) + ". Nothing was written.", icon=":material/error:"
            )
        elif action == governance.CORRECTED and (new_content or "").strip() == str(atom["content"]).strip():
            st.session_state.pop(CONFIRM_KEY, None)
            pending = None
            st.error(
                "The new content is the same as the current one. Nothing was written.",
                icon=":material/error:",
            )
        else:
            targets = [atom] + [copies[i] for i in also if i in copies]
            pending = {
                "org_id": org,
                "scope": scope,
                "atom_id": atom_id,
                "action": action,
                "atoms": [_atom_ref(row) for row in targets],
                "actor": actor.strip(),
                "reason": reason.strip(),
                "content": new_content.strip() if new_content is not None else None,
            }
            st.session_state[CONFIRM_KEY] = pending

    if pending is not None:
        _confirmation(snap, org, pending)

_requests_section(snap, org)
