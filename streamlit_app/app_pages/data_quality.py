"""Data quality: what the selected org sent, what was accepted, and why anything was quarantined.

Records whose org could not be read (`org_id` null) belong to no tenant, so they are never counted in
an org's numbers. Decision on who sees them: an org sees the unattributed records of files that also
contain its own records — the file is evidently that org's upload, and a broken line in it is most
likely its own. If the same file also holds other orgs' records, only file, line and reason are shown
and the detail and raw text are withheld, because the line may belong to another tenant. Unattributed
records in files with no readable org at all (e.g. an unreadable file) are not shown to any org.
"""

from __future__ import annotations

import streamlit as st

from streamlit_app.lib import ui
from streamlit_app.lib.charts import overview as charts
from streamlit_app.lib.queries import overview as queries

ctx = ui.page_context("Data quality")
snap, org = ctx.snapshot, ctx.org_id

st.caption(ui.scope_caption(ctx))

totals = queries.ledger_totals(snap.path, snap.version, org)
files_col, lines_col, accepted_col, dup_col, quarantined_col = st.columns(5)
files_col.metric("Files", ui.format_int(totals["files"]), help="Ingested files holding records of this org.")
lines_col.metric("Records", ui.format_int(totals["lines"]), help="This org's records across those files.")
accepted_col.metric("Accepted", ui.format_int(totals["accepted"]))
dup_col.metric("Duplicates", ui.format_int(totals["duplicates"]), help="Same event_id and content again.")
quarantined_col.metric("Quarantined", ui.format_int(totals["quarantined"]))

# Reconcile with the Overview page: accepted records should match the events in the snapshot.
options = queries.volume_options(snap.path, snap.version, org)
if options["first_date"] is not None:
    in_snapshot = queries.volume_kpis(
        snap.path, snap.version, org, options["first_date"], options["last_date"], ()
    )["events"]
else:
    in_snapshot = 0
if in_snapshot == totals["accepted"]:
    st.caption(
        f":material/check_circle: Accepted records match the {ui.format_int(in_snapshot)} events on the Overview page."
    )
else:
    st.caption(
        f":material/info: Accepted records ({ui.format_int(totals['accepted'])}) differ from the events in "
        f"the snapshot ({ui.format_int(in_snapshot)}): events after the as-of time or purged events are "
        "not in the snapshot."
    )

st.subheader("Quarantined records by reason")
by_reason = queries.quarantine_by_reason(snap.path, snap.version, org)
if by_reason.is_empty():
    st.success(f"No quarantined records for **{org}**.", icon=":material/check_circle:")
else:
    chart_col, examples_col = st.columns([2, 3])
    with chart_col:
        st.plotly_chart(
            charts.quarantine_by_reason(by_reason),
            width="stretch",
            config={"displaylogo": False},
            key="quarantine_reason_chart",
        )
    with examples_col:
        reasons = by_reason.get_column("reason").to_list()
        counts = dict(zip(reasons, by_reason.get_column("records").to_list(), strict=True))
        reason = st.selectbox(
            "Examples for reason",
            reasons,
            format_func=lambda r: f"{r} ({counts[r]:,})",
            key=f"dq_reason_{org}_{snap.version}",
        )
        examples = queries.quarantine_examples(snap.path, snap.version, org, reason)
        st.dataframe(
            examples.select("file", "line", "detail", "raw"),
            width="stretch",
            hide_index=True,
            placeholder=ui.MISSING,
            column_config={
                "file": st.column_config.TextColumn("File"),
                "line": st.column_config.NumberColumn("Line", format="%d", help="1-based; 0 = whole file."),
                "detail": st.column_config.TextColumn("Detail"),
                "raw": st.column_config.TextColumn("Raw (truncated)"),
            },
        )
        if examples.height < counts[reason]:
            st.caption(f"Showing the latest {examples.height} of {counts[reason]:,}.")

st.subheader("Ingest ledger")
ledger = queries.ingest_ledger(snap.path, snap.version, org)
if ledger.is_empty():
    st.info(f"No ingested files hold records of **{org}**.", icon=":material/inbox:")
else:
    st.dataframe(
        ledger,
        width="stretch",
        hide_index=True,
        placeholder=ui.MISSING,
        column_config={
            "file": st.column_config.TextColumn("File"),
            "format": st.column_config.TextColumn("Format"),
            "status": st.column_config.TextColumn("Status"),
            "ingested_at": st.column_config.DatetimeColumn("Ingested (UTC)", format="YYYY-MM-DD HH:mm"),
            "lines": st.column_config.NumberColumn("Records", format="localized"),
            "accepted": st.column_config.NumberColumn("Accepted", format="localized"),
            "duplicates": st.column_config.NumberColumn("Duplicates", format="localized"),
            "quarantined": st.column_config.NumberColumn("Quarantined", format="localized"),
            "balanced": st.column_config.CheckboxColumn(
                "Balanced", help="records = accepted + duplicates + quarantined"
            ),
        },
    )
    unbalanced = ledger.filter(~ledger.get_column("balanced")).height
    if unbalanced:
        st.warning(
            f"{unbalanced} file(s) do not balance: records ≠ accepted + duplicates + quarantined.",
            icon=":material/warning:",
        )
    else:
        st.caption("Counts are this org's records in each file; every file balances.")

unattributed = queries.unattributed_files(snap.path, snap.version, org)
label = f"Unattributed records ({ui.format_int(int(unattributed.get_column('lines').sum() or 0))})"
with st.expander(label, expanded=False, icon=":material/help:"):
    st.caption(
        "Records whose org could not be read belong to no organisation and are not in the numbers above. "
        "Listed here: those in files that also hold this org's records. Where such a file also holds "
        "other organisations' records, detail and raw text are withheld. Records in files with no "
        "readable org at all are not shown to any organisation."
    )
    if unattributed.is_empty():
        st.write("None in this org's files.")
    else:
        st.dataframe(
            unattributed.select("file", "lines", "quarantined", "other_orgs"),
            width="stretch",
            hide_index=True,
            placeholder=ui.MISSING,
            column_config={
                "file": st.column_config.TextColumn("File"),
                "lines": st.column_config.NumberColumn("Records", format="localized"),
                "quarantined": st.column_config.NumberColumn("Quarantined", format="localized"),
                "other_orgs": st.column_config.NumberColumn(
                    "Other orgs in file", format="localized", help="Content is withheld when non-zero."
                ),
            },
        )
        examples = queries.unattributed_examples(snap.path, snap.version, org)
        if not examples.is_empty():
            st.dataframe(
                examples.select("file", "line", "reason", "detail", "raw"),
                width="stretch",
                hide_index=True,
                placeholder=ui.MISSING,
                column_config={
                    "file": st.column_config.TextColumn("File"),
                    "line": st.column_config.NumberColumn("Line", format="%d"),
                    "reason": st.column_config.TextColumn("Reason"),
                    "detail": st.column_config.TextColumn("Detail"),
                    "raw": st.column_config.TextColumn("Raw (truncated)"),
                },
            )
