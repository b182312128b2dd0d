"""Item page: one candidate or pursuit with its names, score, SLA clocks, similar pursuits and follow-ups.

Every look-up is scoped to the org and the item; an id that is not an item of the org returns nothing,
so a hand-edited URL shows "not found" rather than another org's record.
"""

from __future__ import annotations

from typing import Any

import polars as pl
import streamlit as st

from streamlit_app.lib import db
from streamlit_app.lib.queries.common import CACHE_TTL_S, user_name, user_name_join

ITEM_TYPES: tuple[str, ...] = ("pursuit", "candidate")
# The `<component>_contribution` columns of `marts.pursuit_scores`, in the order the page lists them.
SCORE_COMPONENTS: tuple[str, ...] = (
    "stage",
    "age_in_stage",
    "checklist",
    "sla_record",
    "engagement_recency",
    "value_band",
    "client_history",
    "memory",
    "lead_source",
)

# Owner and capture lead by name (`user_name`); parameters: org_id per user join, then the org and the
# item id (`_JOINED_USERS`).
_PURSUIT_SQL = f"""
    SELECT p.pursuit_id AS item_id, coalesce(c.title, p.pursuit_id) AS title, cl.name AS client_name,
           p.client_id, cl.industry, {user_name("p.owner", "own")} AS owner,
           {user_name("p.capture_lead", "lead")} AS capture_lead, p.stage AS state, p.forecast_value_usd,
           c.value_band, p.due_date, p.outcome, p.reason, p.pink_completion_pct, p.red_completion_pct,
           p.proposals_sent, p.latest_proposal_version, p.entered_state_at, p.created_at, p.closed_at,
           p.candidate_id AS linked_id, t.rank, t.badge, t.priority_tier, t.why AS priority_why
    FROM marts.pursuits AS p
    LEFT JOIN marts.candidates AS c ON c.org_id = p.org_id AND c.candidate_id = p.candidate_id
    LEFT JOIN marts.clients AS cl ON cl.org_id = p.org_id AND cl.client_id = p.client_id
    LEFT JOIN marts.today_panel AS t
           ON t.org_id = p.org_id AND t.item_type = 'pursuit' AND t.item_id = p.pursuit_id
    {user_name_join("p.owner", "own")}
    {user_name_join("p.capture_lead", "lead")}
    WHERE p.org_id = ? AND p.pursuit_id = ?
    LIMIT 1
"""

_CANDIDATE_SQL = f"""
    SELECT c.candidate_id AS item_id, coalesce(c.title, c.candidate_id) AS title, cl.name AS client_name,
           c.client_id, cl.industry, {user_name("c.owner", "own")} AS owner, NULL::VARCHAR AS capture_lead, c.status AS state,
           NULL::DOUBLE AS forecast_value_usd, c.value_band, NULL::DATE AS due_date, NULL::VARCHAR AS outcome,
           NULL::VARCHAR AS reason, NULL::DOUBLE AS pink_completion_pct, NULL::DOUBLE AS red_completion_pct,
           NULL::BIGINT AS proposals_sent, NULL::BIGINT AS latest_proposal_version, c.entered_state_at,
           c.created_at, NULL::TIMESTAMPTZ AS closed_at, c.pursuit_id AS linked_id, t.rank, t.badge,
           t.priority_tier, t.why AS priority_why
    FROM marts.candidates AS c
    LEFT JOIN marts.clients AS cl ON cl.org_id = c.org_id AND cl.client_id = c.client_id
    LEFT JOIN marts.today_panel AS t
           ON t.org_id = c.org_id AND t.item_type = 'candidate' AND t.item_id = c.candidate_id
    {user_name_join("c.owner", "own")}
    WHERE c.org_id = ? AND c.candidate_id = ?
    LIMIT 1
"""

_JOINED_USERS = {"pursuit": 2, "candidate": 1}


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def item_header(path: str, version: str, org_id: str, item_type: str, item_id: str) -> dict[str, Any] | None:
    """The item's names and state (a pursuit's title is its candidate's); None when the org has no such item.

    `linked_id`: a pursuit's candidate, or the pursuit a candidate was promoted to.
    """
    if item_type not in ITEM_TYPES:
        return None
    sql = _PURSUIT_SQL if item_type == "pursuit" else _CANDIDATE_SQL
    users = [org_id] * _JOINED_USERS[item_type]
    df = db.fetch(path, sql, [*users, org_id, item_id], org=org_id)
    return None if df.is_empty() else df.row(0, named=True)


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def pursuit_score(path: str, version: str, org_id: str, pursuit_id: str) -> dict[str, Any] | None:
    """The open pursuit's win probability, why and contributions with the org's scorer; None if unscored."""
    contributions = ", ".join(f"s.{c}_contribution" for c in SCORE_COMPONENTS)
    df = db.fetch(
        path,
        f"""
        SELECT s.win_probability, s.model_version, s.why, {contributions}, k.scorer, k.base_rate, k.n_closed
        FROM marts.pursuit_scores AS s
        LEFT JOIN marts.score_calibration AS k ON k.org_id = s.org_id AND k.model_version = s.model_version
        WHERE s.org_id = ? AND s.pursuit_id = ?
        LIMIT 1
        """,
        [org_id, pursuit_id],
        org=org_id,
    )
    return None if df.is_empty() else df.row(0, named=True)


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def sla_clocks(path: str, version: str, org_id: str, item_type: str, item_id: str) -> pl.DataFrame:
    """The item's SLA clocks, oldest first."""
    return db.fetch(
        path,
        """
        SELECT metric, status, started_at, deadline_at, stopped_at, threshold_hours, elapsed_hours, is_breached
        FROM marts.sla_clocks
        WHERE org_id = ? AND item_type = ? AND item_id = ?
        ORDER BY started_at, metric
        """,
        [org_id, item_type, item_id],
        org=org_id,
    )


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def similar_pursuits(path: str, version: str, org_id: str, pursuit_id: str) -> pl.DataFrame:
    """Closed pursuits like this one, most similar first, with their titles, clients and decisive atoms."""
    return db.fetch(
        path,
        """
        SELECT s.similar_rank, s.similar_pursuit_id, coalesce(c.title, s.similar_pursuit_id) AS title,
               cl.name AS client_name, s.outcome, s.closed_at, s.same_client, s.same_industry,
               s.same_value_band, array_to_string(s.decisive_atoms, ' · ') AS decisive
        FROM marts.similar_pursuits AS s
        LEFT JOIN marts.pursuits AS p ON p.org_id = s.org_id AND p.pursuit_id = s.similar_pursuit_id
        LEFT JOIN marts.candidates AS c ON c.org_id = s.org_id AND c.candidate_id = p.candidate_id
        LEFT JOIN marts.clients AS cl ON cl.org_id = s.org_id AND cl.client_id = p.client_id
        WHERE s.org_id = ? AND s.pursuit_id = ?
        ORDER BY s.similar_rank
        """,
        [org_id, pursuit_id],
        org=org_id,
    )


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def item_follow_ups(path: str, version: str, org_id: str, item_type: str, item_id: str) -> pl.DataFrame:
    """The item's follow-ups, the longest due first."""
    return db.fetch(
        path,
        """
        SELECT due_at, kind, why
        FROM marts.follow_ups
        WHERE org_id = ? AND item_type = ? AND item_id = ?
        ORDER BY due_at, follow_up_id
        """,
        [org_id, item_type, item_id],
        org=org_id,
    )
