"""Identity: conflicts waiting for a decision and the merges identity resolution made.

A conflict is a pair the matcher was not sure about (`possible_match`, with its match weight per
comparison) or one person's email on two clients. A governor decides: the decision becomes a
`contact.merged` / `contact.split` (or `client.*`) event in the inbox (`lib/identity_requests.py`), like a
memory redaction, and the next run applies it; explicit decisions override the matcher.
"""

from __future__ import annotations

import json

import polars as pl
import streamlit as st

from dagster_project import access
from dagster_project.settings import default_clock
from streamlit_app.lib import auth, identity_requests, settings, ui
from streamlit_app.lib.queries import identity as queries

ctx = ui.page_context("Identity")
who = auth.principal()
snap, org = ctx.snapshot, ctx.org_id
st.caption(ui.scope_caption(ctx))

conflicts = queries.conflicts(snap.path, snap.version, org)
merges = queries.merges(snap.path, snap.version, org)
open_col, merged_col = st.columns(2)
open_col.metric("Conflicts waiting", ui.format_int(conflicts.height))
merged_col.metric("Records joined to a person or company", ui.format_int(merges.height))

st.subheader("Conflicts")
if conflicts.is_empty():
    st.info(f"Nothing waiting for a decision in **{org}**.", icon=":material/check_circle:")
else:
    ui.labelled_table(
        conflicts.drop("explanation"),
        {"match_probability": st.column_config.NumberColumn("Probability", format="%.4f")},
    )
    labels = [f"{r['kind']}: {r['left_id']} ↔ {r['right_id']}" for r in conflicts.iter_rows(named=True)]
    chosen = st.selectbox("Conflict", range(len(labels)), format_func=labels.__getitem__, key="identity_pick")
    pick = conflicts.row(chosen, named=True)
    if pick["explanation"]:
        weights = json.loads(pick["explanation"])
        st.markdown("**Why the matcher scored them** (match weight per comparison; > 0 for, < 0 against)")
        why = pl.DataFrame(
            [
                {"comparison": k, "level": v["level"], "match_weight": v["match_weight"]}
                for k, v in weights.items()
            ]
        )
        ui.labelled_table(why)
    if pick["kind"] == "possible_match":
        left_type, left = identity_requests.record_id(pick["left_id"])
        right_type, right = identity_requests.record_id(pick["right_id"])
        if "signal" in (left_type, right_type):
            st.caption(
                "A signal's sender joins a person through its signal's contact; decide on contacts only."
            )
        elif not who.can_govern(org):
            st.caption("Only the organisation's governors and admins decide on conflicts.")
        else:
            with st.form("identity_decision"):
                st.caption(
                    f"Decided by **{ui.escape_markdown(who.email)}** (you), recorded as the event's actor."
                )
                decision = st.radio(
                    "Decision",
                    ("merged", "split"),
                    format_func={"merged": "Same person (merge)", "split": "Different people (split)"}.get,
                )
                if st.form_submit_button("Write the decision to the inbox", type="primary"):
                    try:
                        written, _ = identity_requests.write_decision(
                            settings.inbox_path(),
                            org_id=org,
                            entity_type="contact",
                            entity_id=right,
                            other_id=left,
                            decision=decision,
                            actor=who.email,
                        )
                    except ValueError as exc:
                        st.error(str(exc), icon=":material/error:")
                    else:
                        access.audit(
                            settings.workstream_home(),
                            "governance.requested",
                            actor=who.user_id,
                            now=default_clock().now(),
                            org_id=org,
                            target=written.name,
                            detail={"event_name": f"contact.{decision}"},
                        )
                        st.success(f"Written to the inbox as `{written.name}`; the next run applies it.")

st.subheader("Merges")
if merges.is_empty():
    st.caption("No record was joined to another.")
else:
    ui.labelled_table(merges)
