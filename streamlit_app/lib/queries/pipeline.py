"""Lifecycle pages: Pipeline (entities per state and owner, one entity's history), Funnel velocity,
Pipeline health and Win/loss."""

from __future__ import annotations

from typing import Any

import polars as pl
import streamlit as st

from dagster_project.contract.states import (
    CANDIDATE_CLOSED,
    PURSUIT_CLOSED,
    PURSUIT_STATES,
    SIGNAL_DISMISSED,
    SIGNAL_LINKED,
    SIGNAL_STATES,
)
from streamlit_app.lib import db
from streamlit_app.lib.queries.common import CACHE_TTL_S, UNASSIGNED, user_name, user_name_join

# Lifecycle vocabularies in display order (the contract's state machines); unknown states sort last.
ENTITY_STATES: dict[str, tuple[str, ...]] = {
    "signal": SIGNAL_STATES,
    "candidate": ("new", "triaged", "nurture", "on_hold", "archived", "promoted"),
    "pursuit": PURSUIT_STATES,
}
ENTITY_TYPES: tuple[str, ...] = tuple(ENTITY_STATES)
STATE_ORDER: tuple[str, ...] = tuple(s for states in ENTITY_STATES.values() for s in states)
ENTITY_ROWS = 500

# The states in which an entity is done with: a linked signal became a candidate's, a dismissed one was
# let go; promoted and archived candidates and won or lost pursuits are terminal in the contract. A
# pursuit with an outcome is closed whatever its stage says.
CLOSED_STATES: dict[str, tuple[str, ...]] = {
    "signal": (SIGNAL_LINKED, SIGNAL_DISMISSED),
    "candidate": CANDIDATE_CLOSED,
    "pursuit": PURSUIT_CLOSED,
}
# Which entities the Pipeline page counts: the open ones by default, the closed ones apart.
SCOPES: tuple[str, ...] = ("open", "closed", "all")

# One row per signal, candidate and pursuit of the org: type, id, state, owner, whether it is open, a
# human label (signal: where it came from; candidate: title; pursuit: its candidate's title, else its client's
# name, else its client id), the client's name and the forecast value (pursuits only).
# Parameters: `_entities_params(org_id)`.
_ENTITIES_SQL = """
    SELECT 'signal' AS entity_type, signal_id AS entity_id, status AS state, owner,
           NOT list_contains(?::VARCHAR[], status) AS is_open,
           'Signal from ' || source_type AS label, NULL::VARCHAR AS client, NULL::DOUBLE AS value_usd,
           entered_state_at, last_event_at
    FROM marts.signals
    WHERE org_id = ?
    UNION ALL
    SELECT 'candidate', c.candidate_id, c.status, c.owner, NOT list_contains(?::VARCHAR[], c.status),
           c.title, coalesce(cl.name, c.client_id), NULL, c.entered_state_at, c.last_event_at
    FROM marts.candidates AS c
    LEFT JOIN marts.clients AS cl ON cl.org_id = ? AND cl.client_id = c.client_id
    WHERE c.org_id = ?
    UNION ALL
    SELECT 'pursuit', p.pursuit_id, p.stage, p.owner,
           p.outcome IS NULL AND NOT list_contains(?::VARCHAR[], p.stage),
           coalesce(c.title, cl.name, p.client_id), coalesce(cl.name, p.client_id), p.forecast_value_usd,
           p.entered_state_at, p.last_event_at
    FROM marts.pursuits AS p
    LEFT JOIN marts.candidates AS c ON c.org_id = ? AND c.candidate_id = p.candidate_id
    LEFT JOIN marts.clients AS cl ON cl.org_id = ? AND cl.client_id = p.client_id
    WHERE p.org_id = ?
"""


def _entities_params(org_id: str) -> list[object]:
    return [
        list(CLOSED_STATES["signal"]),
        org_id,
        list(CLOSED_STATES["candidate"]),
        org_id,
        org_id,
        list(CLOSED_STATES["pursuit"]),
        org_id,
        org_id,
        org_id,
    ]


# Filters shared by the pipeline queries; each empty list means "all". Parameters: see `_filter_params`.
_ENTITY_FILTERS = """
    (? = 'all' OR is_open = (? = 'open'))
    AND (len(?::VARCHAR[]) = 0 OR list_contains(?::VARCHAR[], entity_type))
    AND (len(?::VARCHAR[]) = 0 OR list_contains(?::VARCHAR[], coalesce(owner, ?)))
    AND (len(?::VARCHAR[]) = 0 OR list_contains(?::VARCHAR[], state))
"""


def _filter_params(
    entity_types: tuple[str, ...], owners: tuple[str, ...], states: tuple[str, ...], scope: str
) -> list[object]:
    if scope not in SCOPES:
        raise ValueError(f"scope must be one of {', '.join(SCOPES)}, not {scope!r}")
    types, owner_list, state_list = list(entity_types), list(owners), list(states)
    return [scope, scope, types, types, owner_list, owner_list, UNASSIGNED, state_list, state_list]


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def pipeline_options(path: str, version: str, org_id: str) -> dict[str, Any]:
    """Filter choices for an org: its owners (unassigned last) and, per entity type, its states in order."""
    df = db.fetch(
        path,
        f"""
        SELECT DISTINCT entity_type, state, coalesce(owner, ?) AS owner
        FROM ({_ENTITIES_SQL})
        """,
        [UNASSIGNED, *_entities_params(org_id)],
        org=org_id,
    )
    owners = sorted(set(df.get_column("owner").to_list()), key=lambda o: (o == UNASSIGNED, o))
    states: dict[str, list[str]] = {}
    for entity_type in ENTITY_TYPES:
        present = set(df.filter(pl.col("entity_type") == entity_type).get_column("state").to_list())
        states[entity_type] = _in_state_order(present)
    return {"owners": owners, "states": states}


def _in_state_order(states: set[str]) -> list[str]:
    return sorted(states, key=lambda s: (STATE_ORDER.index(s) if s in STATE_ORDER else len(STATE_ORDER), s))


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def pipeline_counts(
    path: str,
    version: str,
    org_id: str,
    entity_types: tuple[str, ...] = (),
    owners: tuple[str, ...] = (),
    states: tuple[str, ...] = (),
    scope: str = "open",
) -> pl.DataFrame:
    """Entities per type, state and owner (null owner as `UNASSIGNED`) within the scope (`SCOPES`: the open
    ones unless asked), in lifecycle order, with their forecast value (`value_usd`, pursuits only)."""
    return db.fetch(
        path,
        f"""
        WITH counts AS (
            SELECT entity_type, state, coalesce(owner, ?) AS owner, count(*)::BIGINT AS entities,
                   sum(value_usd) AS value_usd
            FROM ({_ENTITIES_SQL})
            WHERE {_ENTITY_FILTERS}
            GROUP BY ALL
        )
        SELECT counts.entity_type, counts.state, {user_name("counts.owner")} AS owner, counts.entities,
               counts.value_usd
        FROM counts
        {user_name_join("counts.owner")}
        ORDER BY list_position(?::VARCHAR[], counts.entity_type),
                 coalesce(list_position(?::VARCHAR[], counts.state), 999), counts.state,
                 counts.owner = ?, counts.owner
        """,
        [
            UNASSIGNED,
            *_entities_params(org_id),
            *_filter_params(entity_types, owners, states, scope),
            org_id,
            list(ENTITY_TYPES),
            list(STATE_ORDER),
            UNASSIGNED,
        ],
        org=org_id,
    )


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def pipeline_entities(
    path: str,
    version: str,
    org_id: str,
    entity_types: tuple[str, ...] = (),
    owners: tuple[str, ...] = (),
    states: tuple[str, ...] = (),
    scope: str = "open",
    limit: int = ENTITY_ROWS,
) -> pl.DataFrame:
    """The org's entities within the filters and scope, most recently active first (at most `limit`)."""
    return db.fetch(
        path,
        f"""
        WITH entities AS (
            SELECT entity_type, entity_id, label, client, state, owner, value_usd, entered_state_at,
                   last_event_at
            FROM ({_ENTITIES_SQL})
            WHERE {_ENTITY_FILTERS}
            ORDER BY last_event_at DESC NULLS LAST, entity_type, entity_id
            LIMIT ?
        )
        SELECT entities.* REPLACE ({user_name("entities.owner")} AS owner)
        FROM entities
        {user_name_join("entities.owner")}
        ORDER BY entities.last_event_at DESC NULLS LAST, entities.entity_type, entities.entity_id
        """,
        [*_entities_params(org_id), *_filter_params(entity_types, owners, states, scope), limit, org_id],
        org=org_id,
    )


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def entity_timeline(path: str, version: str, org_id: str, entity_type: str, entity_id: str) -> pl.DataFrame:
    """One entity's history, oldest first: one row per event that concerns it.

    Merges the entity's applied transitions (`marts.transitions`), its rejected or warned events with
    rule and detail (`marts.rejected_events`) and its own events (`marts.events`, for name and actor;
    also looked up for transitions caused by another entity's event, e.g. a promotion creating a
    pursuit). `outcome` is `rejected`, `warned` (applied although a rule was broken), `applied`, or
    `no state change` for events that did not move this entity.
    """
    return db.fetch(
        path,
        f"""
        WITH t AS (
            SELECT event_id, occurred_at, from_state, to_state, warned
            FROM marts.transitions
            WHERE org_id = ? AND entity_type = ? AND entity_id = ?
        ),
        r AS (
            SELECT event_id, event_name, occurred_at, rule, detail, outcome
            FROM marts.rejected_events
            WHERE org_id = ? AND entity_type = ? AND entity_id = ?
        ),
        e AS (
            SELECT event_id, event_name, occurred_at, actor
            FROM marts.events
            WHERE org_id = ?
              AND ((entity_type = ? AND entity_id = ?)
                   OR event_id IN (SELECT event_id FROM t UNION SELECT event_id FROM r))
        ),
        ids AS (
            SELECT event_id FROM t UNION SELECT event_id FROM r UNION SELECT event_id FROM e
        )
        SELECT coalesce(t.occurred_at, r.occurred_at, e.occurred_at) AS occurred_at,
               ids.event_id,
               coalesce(e.event_name, r.event_name) AS event_name,
               {user_name("e.actor")} AS actor,
               CASE WHEN r.outcome = 'rejected' THEN 'rejected'
                    WHEN t.warned OR r.outcome = 'warned' THEN 'warned'
                    WHEN t.event_id IS NOT NULL THEN 'applied'
                    ELSE 'no state change' END AS outcome,
               t.from_state,
               t.to_state,
               r.rule,
               r.detail
        FROM ids
        LEFT JOIN t USING (event_id)
        LEFT JOIN r USING (event_id)
        LEFT JOIN e USING (event_id)
        {user_name_join("e.actor")}
        ORDER BY occurred_at, ids.event_id
        """,
        [*[org_id, entity_type, entity_id] * 3, org_id],
        org=org_id,
    )


# ---------------------------------------------------------------------------------- funnel velocity


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def funnel_velocity(path: str, version: str, org_id: str) -> pl.DataFrame:
    """The org's stage pairs in pair order, as published (zero-filled by the mart)."""
    return db.fetch(
        path,
        """
        SELECT pair_order, from_stage, to_stage, entered, converted, conversion_rate,
               median_hours, p90_hours, built_at
        FROM marts.funnel_velocity
        WHERE org_id = ?
        ORDER BY pair_order, from_stage, to_stage
        """,
        [org_id],
        org=org_id,
    )


# ------------------------------------------------------------------------------------ pipeline health


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def pipeline_health(path: str, version: str, org_id: str) -> pl.DataFrame:
    """The org's open pipeline per pursuit stage as published, in stage order."""
    return db.fetch(
        path,
        """
        SELECT stage, open_pursuits, open_value_usd, p75_hours_in_stage, aging_pursuits, slipped_pursuits
        FROM marts.pipeline_health
        WHERE org_id = ?
        ORDER BY stage_order, stage
        """,
        [org_id],
        org=org_id,
    )


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def win_rate_monthly(path: str, version: str, org_id: str) -> pl.DataFrame:
    """Won and lost pursuits and the win rate (0–1) per month of close, as published, oldest first."""
    return db.fetch(
        path,
        """
        SELECT month_start, won, lost, win_rate
        FROM marts.win_rate_monthly
        WHERE org_id = ?
        ORDER BY month_start
        """,
        [org_id],
        org=org_id,
    )


# ----------------------------------------------------------------------------------------- win/loss


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def win_loss(path: str, version: str, org_id: str) -> pl.DataFrame:
    """Closed pursuits per outcome and reason code as published; won first, then most pursuits.

    Pursuits closed without a reason have reason code `missing` in the mart and stay visible as such.
    """
    return db.fetch(
        path,
        """
        SELECT outcome, reason_code, pursuits, value_usd, median_days_to_close
        FROM marts.win_loss
        WHERE org_id = ?
        ORDER BY coalesce(list_position(['won', 'lost'], outcome), 99), outcome,
                 pursuits DESC, reason_code = 'missing', reason_code
        """,
        [org_id],
        org=org_id,
    )
