"""Quality gates: pass rates per gate and the events that broke a gate rule."""

from __future__ import annotations

import polars as pl
import streamlit as st

from streamlit_app.lib import db
from streamlit_app.lib.queries.common import CACHE_TTL_S, EXAMPLE_ROWS


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def gate_pass_rates(path: str, version: str, org_id: str) -> pl.DataFrame:
    """The org's gates (pink, then red) as published: attempts, passed, rate, top missing items."""
    return db.fetch(
        path,
        """
        SELECT gate, attempts, passed, pass_rate, top_missing_items, health_line, below_health_line
        FROM marts.gate_pass_rates
        WHERE org_id = ?
        ORDER BY coalesce(list_position(['pink', 'red'], gate), 99), gate
        """,
        [org_id],
        org=org_id,
    )


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def gate_rejections(path: str, version: str, org_id: str, limit: int = EXAMPLE_ROWS) -> pl.DataFrame:
    """The org's latest events that broke a gate rule (`gate:*`), rejected or applied with a warning."""
    return db.fetch(
        path,
        """
        SELECT occurred_at, outcome, rule, detail, event_name, entity_type, entity_id, event_id
        FROM marts.rejected_events
        WHERE org_id = ? AND rule LIKE 'gate:%'
        ORDER BY occurred_at DESC, event_id
        LIMIT ?
        """,
        [org_id, limit],
        org=org_id,
    )
