"""The snapshot a page reads (live, or a past one chosen in the time travel), the org list, and the
errors reading it can raise (re-exported from `db` so pages need not import the reader)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import streamlit as st

from streamlit_app.lib import db, settings
from streamlit_app.lib.db import SnapshotIncompatible, SnapshotMissing, SnapshotUnavailable
from streamlit_app.lib.queries.common import CACHE_TTL_S

__all__ = [
    "LIVE",
    "TIME_TRAVEL_KEY",
    "Snapshot",
    "SnapshotIncompatible",
    "SnapshotMissing",
    "SnapshotUnavailable",
    "chosen_snapshot_path",
    "current_snapshot",
    "org_ids",
    "reads_of_one_render",
    "snapshot_at",
]

# The app wraps each render in it: one open per scope for the render's queries (see `db`).
reads_of_one_render = db.reads_of_one_render


@dataclass(frozen=True)
class Snapshot:
    """The published snapshot a page is reading: where it is and which build it holds."""

    path: str
    version: str
    built_at: dt.datetime | None
    published_at: dt.datetime | None
    events: int
    # The file's identity on disk (`db.snapshot_token`). It changes on every write, including the
    # in-place refresh of `marts.alerts`, which keeps the version.
    token: str = ""
    # A past snapshot under `<home>/as-of/` chosen in the sidebar's time travel, not the live one.
    past: bool = False


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def _snapshot_info(path: str, file_token: str) -> dict[str, Any]:
    # `file_token` is only part of the cache key: a replaced file gets a new token, hence a fresh read.
    info = db.snapshot_info(path)
    if info is None:
        return {"version": f"file:{file_token}", "built_at": None, "published_at": None, "events": 0}
    return info


# Session-state key (and URL query parameter) of the sidebar's time travel: `LIVE` or a past file's name.
TIME_TRAVEL_KEY = "as_of"
LIVE = "live"


def chosen_snapshot_path() -> Path:
    """The live snapshot, or the past one chosen in the time travel if it is still there (only names
    listed under `<home>/as-of/` count, so no URL can point the app at another file)."""
    choice = st.session_state.get(TIME_TRAVEL_KEY)
    if choice and choice != LIVE:
        for path in settings.past_snapshot_paths():
            if path.name == choice:
                return path
    return settings.snapshot_path()


def snapshot_at(path: Path) -> Snapshot | None:
    """The snapshot in the file at `path`, or None when there is none."""
    token = db.snapshot_token(path)
    if token is None:
        return None
    try:
        info = _snapshot_info(str(path), token)
    except db.SnapshotMissing:
        return None
    return Snapshot(path=str(path), token=token, past=path != settings.snapshot_path(), **info)


def current_snapshot() -> Snapshot | None:
    """The snapshot being read (the live one unless time travel chose a past one), or None when
    nothing has been published yet."""
    return snapshot_at(chosen_snapshot_path())


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def org_ids(path: str, version: str, within: tuple[str, ...] | None) -> list[str]:
    """The orgs with events or ingested files in the snapshot, among `within` (a user's granted orgs, read
    through their scope); every org when `within` is None, for an admin."""
    return db.org_ids(path, within)
