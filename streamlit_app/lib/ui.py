"""Page furniture shared by the router and every page: snapshot/org context, empty states, formatting.

Pages start with `page_context(title)`: it renders the title and, when there is nothing to show,
the matching empty state before stopping the page, so no page ever queries without a snapshot and
an org.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from streamlit_app.lib import queries, settings

# Session-state key of the org selector; also the URL query parameter (`?org=acme`).
ORG_KEY = "org"


@dataclass(frozen=True)
class PageContext:
    """What every page needs: the snapshot being read and the org it is scoped to."""

    snapshot: queries.Snapshot
    org_id: str


def no_snapshot_message(path: Path | str | None = None) -> None:
    """The empty state before the first publish: how to get data, not a traceback."""
    where = path if path is not None else settings.snapshot_path()
    st.info(
        "**No data yet.** No snapshot has been published at "
        f"`{where}`.\n\n"
        "Run `workstream run` to ingest the inbox and publish one (or `make demo` for sample data), "
        "then reload this page.",
        icon=":material/hourglass_empty:",
    )


def refreshing_message() -> None:
    """Shown when the snapshot is being swapped or locked and retries ran out."""
    st.info("The data is being refreshed. Reload the page in a few seconds.", icon=":material/sync:")


def incompatible_message(detail: str) -> None:
    """Shown when the snapshot predates a table or column the dashboard reads."""
    st.error(
        "The published snapshot does not have what this page needs; it was probably written by an "
        f"older pipeline. Re-publish it with `workstream run`.\n\n`{detail}`",
        icon=":material/error:",
    )


def page_context(title: str) -> PageContext:
    """Render the title; return the snapshot and selected org, or show the empty state and stop."""
    st.title(title)
    snapshot = queries.current_snapshot()
    if snapshot is None:
        no_snapshot_message()
        st.stop()
    org_id = st.session_state.get(ORG_KEY)
    if not org_id:
        st.info(
            "This snapshot holds no organisations yet: no events were accepted and no files ingested.",
            icon=":material/inbox:",
        )
        st.stop()
    return PageContext(snapshot=snapshot, org_id=org_id)


def format_ts(value: dt.datetime | None) -> str:
    """A UTC timestamp to the minute, or an em dash when unknown."""
    if value is None:
        return "—"
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC)
    return value.strftime("%Y-%m-%d %H:%M UTC")


def format_date(value: dt.date | None) -> str:
    """ISO date, or an em dash when unknown."""
    return "—" if value is None else value.isoformat()


def format_int(value: int | None) -> str:
    """Thousands-separated integer, em dash for None."""
    return "—" if value is None else f"{int(value):,}"


def scope_caption(ctx: PageContext) -> str:
    """The line under each page title: whose data and as of when."""
    snap = ctx.snapshot
    return (
        f"Organisation **{ctx.org_id}** · data as of **{format_ts(snap.built_at)}** "
        f"(published {format_ts(snap.published_at)})"
    )
