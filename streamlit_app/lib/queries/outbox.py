"""Outbox health: the org's outbox numbers and its dead letters."""

from __future__ import annotations

from typing import Any

import polars as pl
import streamlit as st

from streamlit_app.lib import db
from streamlit_app.lib.queries.common import CACHE_TTL_S, EXAMPLE_ROWS


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def outbox_health(path: str, version: str, org_id: str) -> dict[str, Any] | None:
    """The org's outbox numbers as published, or None when the org has never had an outbox item."""
    df = db.fetch(
        path,
        """
        SELECT pending, retrying, oldest_pending_age_s, dead_lettered, processed_last_hour
        FROM marts.outbox_health
        WHERE org_id = ?
        LIMIT 1
        """,
        [org_id],
        org=org_id,
    )
    return df.row(0, named=True) if df.height else None


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def dead_letters(path: str, version: str, org_id: str, limit: int = EXAMPLE_ROWS) -> pl.DataFrame:
    """The org's dead-lettered outbox items, most recent first, with their last error."""
    return db.fetch(
        path,
        """
        SELECT dead_at, event_id, event_name, entity_type, entity_id, attempts, last_error
        FROM marts.dead_letters
        WHERE org_id = ?
        ORDER BY dead_at DESC, event_id
        LIMIT ?
        """,
        [org_id, limit],
        org=org_id,
    )
