"""Quality gates: pass rates per gate and the events that broke a gate rule."""

from __future__ import annotations

import polars as pl
import streamlit as st

from streamlit_app.lib import db
from streamlit_app.lib.queries.common import CACHE_TTL_S, EXAMPLE_ROWS, ITEM_TITLE, item_title_joins


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
    """The org's latest events that broke a gate rule (`gate:*`), rejected or applied with a warning, with
    the item they concern by name (`label`; its id when it has none)."""
    return db.fetch(
        path,
        f"""
        SELECT r.occurred_at, r.outcome, r.rule, r.detail, r.event_name, r.entity_type,
               coalesce({ITEM_TITLE}, r.entity_id) AS label, r.entity_id, r.event_id
        FROM marts.rejected_events AS r
        {item_title_joins("r", "entity_type", "entity_id")}
        WHERE r.org_id = ? AND r.rule LIKE 'gate:%'
        ORDER BY r.occurred_at DESC, r.event_id
        LIMIT ?
        """,
        [*[org_id] * 4, org_id, limit],
        org=org_id,
    )
