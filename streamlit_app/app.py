"""Workstream dashboard router: page config, sign-in, the shared sidebar (org and data freshness), navigation.

The app reads only the published snapshot `<home>/serving.duckdb` (see `lib/settings.py`), never the
warehouse, so it cannot block a pipeline run. Run with `streamlit run streamlit_app/app.py`.

Nothing renders before sign-in (`lib/auth.py`). The org selector lists only the orgs the signed-in user
may read; an org in the URL (`?org=`) that they may not read, or that does not exist, is refused, never
replaced by another one. The Access page is listed for admins only and refuses everyone else.
"""

from __future__ import annotations

import streamlit as st

from streamlit_app.lib import auth, navigation, settings, ui
from streamlit_app.lib.queries import snapshot as queries

st.set_page_config(page_title="Workstream", page_icon=":material/monitoring:", layout="wide")


def _pages(is_admin: bool) -> dict[str, list[st.Page]]:
    return {
        section: [
            st.Page(
                spec.path,
                title=spec.title,
                icon=spec.icon,
                url_path=spec.url_path,
                default=spec.default,
                visibility=spec.visibility,
            )
            for spec in specs
        ]
        for section, specs in navigation.sections_for(is_admin).items()
    }


def _main() -> None:
    # Signed out, the pages are still declared (hidden) so the URL's page survives the sign-in.
    who = auth.require_login(keep_page=lambda: st.navigation(_pages(False), position="hidden"))
    page = st.navigation(_pages(who.is_admin))

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

    def _org_selector(snapshot: queries.Snapshot) -> bool:
        """The orgs the user may read in this snapshot. False when the URL asks for an org that is not one of
        them (one answer for an org they may not read and one that does not exist: no org enumeration)."""
        within = None if who.is_admin else tuple(sorted(who.grants))
        orgs = queries.org_ids(snapshot.path, snapshot.version, within)
        requested = st.query_params.get(ui.ORG_KEY)
        if requested is not None and requested not in orgs:
            st.session_state.pop(ui.ORG_KEY, None)
            auth.record_denied(who, "org", requested)
            return False
        if not orgs:
            st.caption("No organisations of yours in this snapshot yet.")
            st.session_state.pop(ui.ORG_KEY, None)
        else:
            if st.session_state.get(ui.ORG_KEY) not in orgs:
                # A new snapshot may no longer hold the previously selected org.
                st.session_state.pop(ui.ORG_KEY, None)
            st.selectbox("Organisation", orgs, key=ui.ORG_KEY, bind="query-params")
        return True

    def _sidebar() -> bool:
        """The sidebar; False when the org asked for in the URL is refused (then no org is shown at all)."""
        _time_travel()
        snapshot = queries.current_snapshot()
        if snapshot is None:
            st.caption("No snapshot published yet.")
            return True
        if not _org_selector(snapshot):
            return False
        st.caption(
            f"**Data as of** {ui.format_ts(snapshot.built_at)}  \n"
            f"Published {ui.format_ts(snapshot.published_at)}  \n"
            f"Snapshot `{snapshot.version}`"
        )
        return True

    # One handler for the sidebar and the page: if the snapshot cannot be read, the page shows why.
    # The render's queries share one open of the snapshot per scope, closed when the render ends.
    try:
        with queries.reads_of_one_render():
            with st.sidebar:
                allowed = _sidebar()
                # The page's own sidebar controls (the period) go here, beside the org, above the sign-out.
                ui.set_page_sidebar(st.container())
                st.divider()
                st.caption(f"Signed in as **{ui.escape_markdown(who.email)}** ({auth.role_label(who)})")
                auth.sign_out_button()
            if not allowed:
                ui.org_refused()
                st.stop()
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


# Streamlit runs this file as `__main__`. A process that `multiprocessing` spawns from a process that ran
# it (AppTest in a test worker) re-runs it as `__mp_main__`, outside any Streamlit run, where nothing
# may render and no sign-in can stop the script.
if __name__ == "__main__":
    _main()
