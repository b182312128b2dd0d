"""Today panel (open items ranked, with filters) and Owner workload."""

from __future__ import annotations

import polars as pl
import streamlit as st

from streamlit_app.lib import db
from streamlit_app.lib.queries.common import (
    CACHE_TTL_S,
    ITEM_CLIENT,
    ITEM_TITLE,
    UNASSIGNED,
    item_title_joins,
    user_name,
    user_name_join,
)

# The Today panel has every open item of the org (tens of thousands at scale); the page shows the top
# rows only. The cap is a UI concern: the mart is never capped.
TODAY_ROWS = 200
PANEL_ITEM_TYPES: tuple[str, ...] = ("candidate", "pursuit")
PRIORITY_TIERS: tuple[str, ...] = ("critical", "high", "medium", "low")
BADGES: tuple[str, ...] = ("red", "amber", "green")

# Filters of the Today queries; each empty list means "all". Tags match when the item has any of the
# picked tags. Parameters: see `_today_params`.
_TODAY_FILTERS = """
    (len(?::VARCHAR[]) = 0 OR list_contains(?::VARCHAR[], item_type))
    AND (len(?::VARCHAR[]) = 0 OR list_contains(?::VARCHAR[], coalesce(owner, ?)))
    AND (len(?::VARCHAR[]) = 0 OR list_contains(?::VARCHAR[], priority_tier))
    AND (len(?::VARCHAR[]) = 0 OR list_has_any(coalesce(tags, []::VARCHAR[]), ?::VARCHAR[]))
"""


def _today_params(
    item_types: tuple[str, ...], owners: tuple[str, ...], tiers: tuple[str, ...], tags: tuple[str, ...]
) -> list[object]:
    types, owner_list, tier_list, tag_list = list(item_types), list(owners), list(tiers), list(tags)
    return [types, types, owner_list, owner_list, UNASSIGNED, tier_list, tier_list, tag_list, tag_list]


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def today_options(path: str, version: str, org_id: str) -> dict[str, list[str]]:
    """Filter choices for an org's Today panel: item types, owners (unassigned last), tiers, tags."""
    df = db.fetch(
        path,
        """
        SELECT 'item_type' AS kind, item_type AS value FROM marts.today_panel WHERE org_id = ?
        UNION
        SELECT 'owner', coalesce(owner, ?) FROM marts.today_panel WHERE org_id = ?
        UNION
        SELECT 'tier', priority_tier FROM marts.today_panel WHERE org_id = ?
        UNION
        SELECT 'tag', unnest(tags) FROM marts.today_panel WHERE org_id = ?
        """,
        [org_id, UNASSIGNED, org_id, org_id, org_id],
        org=org_id,
    )

    def values(kind: str) -> set[str]:
        return {v for v in df.filter(pl.col("kind") == kind).get_column("value").to_list() if v is not None}

    def in_order(present: set[str], order: tuple[str, ...]) -> list[str]:
        return [v for v in order if v in present] + sorted(present - set(order))

    return {
        "item_types": in_order(values("item_type"), PANEL_ITEM_TYPES),
        "owners": sorted(values("owner"), key=lambda o: (o == UNASSIGNED, o)),
        "tiers": in_order(values("tier"), PRIORITY_TIERS),
        "tags": sorted(values("tag")),
    }


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def today_summary(
    path: str,
    version: str,
    org_id: str,
    item_types: tuple[str, ...] = (),
    owners: tuple[str, ...] = (),
    tiers: tuple[str, ...] = (),
    tags: tuple[str, ...] = (),
) -> dict[str, int]:
    """Open items of the org's Today panel within the filters: all, critical, high, red badges."""
    row = db.fetch(
        path,
        f"""
        SELECT count(*) AS items,
               count(*) FILTER (WHERE priority_tier = 'critical') AS critical,
               count(*) FILTER (WHERE priority_tier = 'high') AS high,
               count(*) FILTER (WHERE badge = 'red') AS red,
               count(*) FILTER (WHERE badge = 'amber') AS amber
        FROM marts.today_panel
        WHERE org_id = ? AND {_TODAY_FILTERS}
        """,
        [org_id, *_today_params(item_types, owners, tiers, tags)],
        org=org_id,
    ).row(0, named=True)
    return {k: int(v) for k, v in row.items()}


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def today_items(
    path: str,
    version: str,
    org_id: str,
    item_types: tuple[str, ...] = (),
    owners: tuple[str, ...] = (),
    tiers: tuple[str, ...] = (),
    tags: tuple[str, ...] = (),
    limit: int = TODAY_ROWS,
) -> pl.DataFrame:
    """The org's Today panel within the filters in rank order (at most `limit` rows), as published.

    With each row's title and client name (`title`, `client`) and its top memory atom (`top_atom`,
    `top_atom_type`; null when the item has no memory card).
    """
    # The top memory atom is the first of the item's card `top_atoms` (the card ranks them), read for the
    # page's rows only, after the limit.
    return db.fetch(
        path,
        f"""
        WITH panel AS (
            SELECT rank, badge, label, item_type, item_id, state, owner, due_date, tags, priority_score,
                   priority_tier, urgency_points, value_points, stage_points, compliance_points,
                   workload_points, why, sla_metric, hours_since_touch
            FROM marts.today_panel
            WHERE org_id = ? AND {_TODAY_FILTERS}
            ORDER BY rank, item_type, item_id
            LIMIT ?
        )
        SELECT panel.* REPLACE ({user_name("panel.owner")} AS owner),
               coalesce({ITEM_TITLE}, panel.label) AS title, {ITEM_CLIENT} AS client,
               json_extract_string(m.top_atoms, '$[0].atom_type') AS top_atom_type,
               json_extract_string(m.top_atoms, '$[0].content') AS top_atom
        FROM panel
        {item_title_joins("panel")}
        {user_name_join("panel.owner")}
        LEFT JOIN marts.memory_cards AS m
               ON m.org_id = ? AND m.entity_type = panel.item_type AND m.entity_id = panel.item_id
        ORDER BY panel.rank, panel.item_type, panel.item_id
        """,
        [org_id, *_today_params(item_types, owners, tiers, tags), limit, *[org_id] * 5, org_id],
        org=org_id,
    )


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def owner_workload(path: str, version: str, org_id: str) -> pl.DataFrame:
    """The org's owners as published, most open items first, each by name (else the id)."""
    return db.fetch(
        path,
        f"""
        SELECT {user_name("w.owner")} AS owner, w.total_items, w.critical_items, w.high_items,
               w.medium_items, w.low_items, w.avg_priority_score, w.sla_breaches, w.at_risk_items,
               w.stale_items, w.max_hours_without_touch
        FROM marts.owner_workload AS w
        {user_name_join("w.owner")}
        WHERE w.org_id = ?
        ORDER BY w.total_items DESC, w.owner
        """,
        [org_id, org_id],
        org=org_id,
    )


FOLLOW_UP_ROWS = 200


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def follow_ups(path: str, version: str, org_id: str) -> pl.DataFrame:
    """The org's follow-ups with the item's title (as on Today; a signal by its source): quiet proposals first, then client
    preferences, then quiet signals; within each, the most recently due first (the oldest are the least
    likely still to be worth the call)."""
    return db.fetch(
        path,
        f"""
        WITH panel AS (
            SELECT f.follow_up_id, f.due_at, f.kind, f.item_type, f.item_id, f.owner, f.why, t.label
            FROM marts.follow_ups AS f
            LEFT JOIN marts.today_panel AS t
                ON t.org_id = f.org_id AND t.item_type = f.item_type AND t.item_id = f.item_id
            WHERE f.org_id = ?
        )
        SELECT panel.due_at, panel.kind, panel.item_type, panel.item_id,
               coalesce({ITEM_TITLE}, panel.label, panel.item_id) AS label,
               {user_name("panel.owner")} AS owner, panel.why AS reason
        FROM panel
        {item_title_joins("panel")}
        {user_name_join("panel.owner")}
        ORDER BY coalesce(list_position(['proposal_quiet', 'client_preference', 'signal_quiet'], panel.kind), 99),
                 panel.due_at DESC, panel.follow_up_id
        LIMIT ?
        """,
        [org_id, *[org_id] * 5, FOLLOW_UP_ROWS],
        org=org_id,
    )
