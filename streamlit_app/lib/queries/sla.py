"""SLA compliance: per-metric summary, weekly compliance, open breaches and recent alerts."""

from __future__ import annotations

import polars as pl
import streamlit as st

from streamlit_app.lib import db
from streamlit_app.lib.queries.common import CACHE_TTL_S, EXAMPLE_ROWS, ITEM_TITLE, item_title_joins
from streamlit_app.lib.queries.today import TODAY_ROWS

SLA_METRICS: tuple[str, ...] = ("triage", "proposal", "response")
_SLA_METRIC_ORDER = "coalesce(list_position(['triage', 'proposal', 'response'], metric), 99), metric"


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def sla_compliance_summary(path: str, version: str, org_id: str) -> pl.DataFrame:
    """Compliance per SLA metric as published (percentages 0–100; null when nothing was eligible)."""
    return db.fetch(
        path,
        f"""
        SELECT metric, threshold_hours, eligible_items, breached_items, open_breaches, at_risk_items,
               compliance_pct, breach_rate_pct, health_line_pct, below_health_line
        FROM marts.sla_compliance_summary
        WHERE org_id = ?
        ORDER BY {_SLA_METRIC_ORDER}
        """,
        [org_id],
        org=org_id,
    )


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def sla_compliance_weekly(path: str, version: str, org_id: str) -> pl.DataFrame:
    """Compliance per SLA metric and week (Monday) as published, oldest week first."""
    return db.fetch(
        path,
        f"""
        SELECT metric, week_start, eligible_items, breached_items, compliance_pct, hours_over_threshold
        FROM marts.sla_compliance_weekly
        WHERE org_id = ?
        ORDER BY week_start, {_SLA_METRIC_ORDER}
        """,
        [org_id],
        org=org_id,
    )


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def sla_open_breaches(path: str, version: str, org_id: str, limit: int = TODAY_ROWS) -> pl.DataFrame:
    """The org's unresolved SLA breaches, longest over the threshold first (at most `limit`).

    `label` names the item as Today does (its title; a signal by its source), else it is the id.
    """
    return db.fetch(
        path,
        f"""
        SELECT b.item_type, b.item_id, coalesce({ITEM_TITLE}, b.item_id) AS label, b.metric, b.started_at,
               b.breached_at, b.threshold_hours, b.hours_over_threshold
        FROM marts.sla_breaches AS b
        {item_title_joins("b")}
        WHERE b.org_id = ? AND b.is_open
        ORDER BY b.hours_over_threshold DESC NULLS LAST, b.breached_at, b.item_type, b.item_id, b.metric
        LIMIT ?
        """,
        [*[org_id] * 4, org_id, limit],
        org=org_id,
    )


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def recent_alerts(
    path: str, version: str, org_id: str, file_token: str = "", limit: int = EXAMPLE_ROWS
) -> pl.DataFrame:
    """The org's latest SLA alerts, one row per alert and sink, newest first (`marts.alerts`).

    Alerts reach the snapshot with each run's one publish (a new version). The cache is keyed on the
    file token (`Snapshot.token`) as well, so a file changed without a new version is never served stale.
    """
    return db.fetch(
        path,
        f"""
        SELECT a.created_at, a.kind, a.item_type, a.item_id, coalesce({ITEM_TITLE}, a.item_id) AS label,
               a.metric, a.breached_at, a.sink, a.delivery_status, a.attempts, a.last_error, a.alert_status
        FROM marts.alerts AS a
        {item_title_joins("a")}
        WHERE a.org_id = ?
        ORDER BY a.created_at DESC, a.alert_id, a.sink
        LIMIT ?
        """,
        [*[org_id] * 4, org_id, limit],
        org=org_id,
    )
