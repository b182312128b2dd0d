"""SLA compliance: per-metric summary, weekly compliance, open breaches and recent alerts."""

from __future__ import annotations

import polars as pl
import streamlit as st

from streamlit_app.lib import db
from streamlit_app.lib.queries.common import CACHE_TTL_S, EXAMPLE_ROWS
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

    `label` names the item as Today does (a pursuit's title), else it is the id (a signal's, a closed item's).
    """
    return db.fetch(
        path,
        """
        SELECT b.item_type, b.item_id, coalesce(t.label, b.item_id) AS label, b.metric, b.started_at,
               b.breached_at, b.threshold_hours, b.hours_over_threshold
        FROM marts.sla_breaches AS b
        LEFT JOIN marts.today_panel AS t
               ON t.org_id = ? AND t.item_type = b.item_type AND t.item_id = b.item_id
        WHERE b.org_id = ? AND b.is_open
        ORDER BY b.hours_over_threshold DESC NULLS LAST, b.breached_at, b.item_type, b.item_id, b.metric
        LIMIT ?
        """,
        [org_id, org_id, limit],
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
        """
        SELECT created_at, kind, item_type, item_id, metric, breached_at, sink, delivery_status,
               attempts, last_error, alert_status
        FROM marts.alerts
        WHERE org_id = ?
        ORDER BY created_at DESC, alert_id, sink
        LIMIT ?
        """,
        [org_id, limit],
        org=org_id,
    )
