"""Workstream dashboard router: page config, the shared sidebar (org and data freshness), navigation.

The app reads only the published snapshot `<home>/serving.duckdb` (see `lib/settings.py`), never the
warehouse, so it cannot block a pipeline run. Run with `streamlit run streamlit_app/app.py`.
"""

from __future__ import annotations

import streamlit as st

from streamlit_app.lib import settings, ui
from streamlit_app.lib.queries import snapshot as queries

st.set_page_config(page_title="Workstream", page_icon=":material/monitoring:", layout="wide")

page = st.navigation(
    {
        "Work": [
            st.Page(
                "app_pages/today.py",
                title="Today",
                icon=":material/today:",
                url_path="today",
                default=True,  # served at "/": the analyst's first question is what to do now
            ),
            st.Page(
                "app_pages/owner_workload.py",
                title="Owner workload",
                icon=":material/group:",
                url_path="owner-workload",
            ),
            st.Page(
                "app_pages/sla_compliance.py",
                title="SLA compliance",
                icon=":material/timer:",
                url_path="sla-compliance",
            ),
            st.Page(
                "app_pages/memory.py",
                title="Memory",
                icon=":material/psychology:",
                url_path="memory",
            ),
            st.Page(
                "app_pages/item.py",
                title="Item",
                icon=":material/description:",
                url_path="item",
                visibility="hidden",  # opened from a row's link, with the item in the URL
            ),
        ],
        "Pipeline": [
            st.Page(
                "app_pages/overview.py",
                title="Overview",
                icon=":material/insights:",
                url_path="overview",
            ),
            st.Page(
                "app_pages/funnel_velocity.py",
                title="Funnel velocity",
                icon=":material/filter_alt:",
                url_path="funnel-velocity",
            ),
            st.Page(
                "app_pages/pipeline.py",
                title="Pipeline",
                icon=":material/account_tree:",
                url_path="pipeline",
            ),
            st.Page(
                "app_pages/pipeline_health.py",
                title="Pipeline health",
                icon=":material/monitor_heart:",
                url_path="pipeline-health",
            ),
            st.Page(
                "app_pages/win_loss.py",
                title="Win/loss",
                icon=":material/emoji_events:",
                url_path="win-loss",
            ),
        ],
        # Engineering pages (is the pipeline healthy?) apart from the analyst's pages above.
        "Engineering": [
            st.Page(
                "app_pages/data_quality.py",
                title="Data quality",
                icon=":material/rule:",
                url_path="data-quality",
            ),
            st.Page(
                "app_pages/quality_gates.py",
                title="Quality gates",
                icon=":material/verified:",
                url_path="quality-gates",
            ),
            st.Page(
                "app_pages/outbox_health.py",
                title="Outbox health",
                icon=":material/outbox:",
                url_path="outbox-health",
            ),
        ],
    }
)


def _time_travel() -> None:
    """Past snapshots under `<home>/as-of/` as choices beside the live one (`?as_of=as of <time>`)."""
    names = [p.name for p in settings.past_snapshot_paths()]
    if not names:
        st.session_state.pop(queries.TIME_TRAVEL_KEY, None)
        return
    options = [queries.LIVE, *names]
    if st.session_state.get(queries.TIME_TRAVEL_KEY) not in options:
        # A removed file, or a name from a URL that is not one of them.
        st.session_state.pop(queries.TIME_TRAVEL_KEY, None)
    st.selectbox(
        "Time travel",
        options,
        key=queries.TIME_TRAVEL_KEY,
        format_func=ui.time_travel_label,
        bind="query-params",
    )


def _sidebar() -> None:
    _time_travel()
    snapshot = queries.current_snapshot()
    if snapshot is None:
        st.caption("No snapshot published yet.")
        return
    orgs = queries.org_ids(snapshot.path, snapshot.version)
    if not orgs:
        st.caption("No organisations in this snapshot yet.")
        st.session_state.pop(ui.ORG_KEY, None)
    else:
        if st.session_state.get(ui.ORG_KEY) not in orgs:
            # A new snapshot may no longer hold the previously selected org.
            st.session_state.pop(ui.ORG_KEY, None)
        st.selectbox("Organisation", orgs, key=ui.ORG_KEY, bind="query-params")
    st.caption(
        f"**Data as of** {ui.format_ts(snapshot.built_at)}  \n"
        f"Published {ui.format_ts(snapshot.published_at)}  \n"
        f"Snapshot `{snapshot.version}`"
    )


# One handler for the sidebar and the page: if the snapshot cannot be read, the page shows why.
try:
    with st.sidebar:
        _sidebar()
    chosen = queries.current_snapshot()
    if chosen is not None and chosen.past:
        ui.time_travel_banner(chosen)
    page.run()
except queries.SnapshotMissing:
    # The file disappeared after the existence check.
    ui.no_snapshot_message()
except queries.SnapshotUnavailable:
    ui.refreshing_message()
except queries.SnapshotIncompatible as exc:
    ui.incompatible_message(str(exc))
