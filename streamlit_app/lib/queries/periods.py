"""The analyst pages' numbers for one period (`lib/period.py`): each page asks once for its period and once
for the previous one, with the same question.

A period is a half-open UTC interval `[start, end)` passed as parameters. Each number counts the mart rows
whose own timestamp falls in it, and which timestamp that is is said in docs/dashboard-numbers.md:
stage entries by the first entry into the from-stage, SLA clocks by the moment they became eligible,
closes by `closed_at`, new pursuits by `created_at`, gate attempts by the stage change's `occurred_at`.
Over a period that holds all of an org's data these sums equal the org's published all-time marts.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import polars as pl
import streamlit as st

from streamlit_app.lib import db
from streamlit_app.lib.queries.common import CACHE_TTL_S

# The funnel pairs the Funnel page headlines, as (item type, from-stage, to-stage).
HEADLINE_PAIRS: tuple[tuple[str, str, str], ...] = (
    ("signal", "signal", "candidate"),
    ("candidate", "candidate", "promoted"),
    ("pursuit", "submit", "won"),
)


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def funnel_pairs(path: str, version: str, org_id: str, start: dt.datetime, end: dt.datetime) -> pl.DataFrame:
    """For each headline pair: items whose first entry into the from-stage is in the period (`entered`)
    and those of them that first entered the to-stage at or after that and before the period's end
    (`converted`), from `marts.funnel_stage_entries`."""
    return db.fetch(
        path,
        """
        WITH pairs AS (
            SELECT * FROM (VALUES (0, ?, ?, ?), (1, ?, ?, ?), (2, ?, ?, ?))
                AS p (pair_order, item_type, from_stage, to_stage)
        ),
        entered AS (
            SELECT p.pair_order, e.item_id, e.first_entered_at
            FROM pairs AS p
            JOIN marts.funnel_stage_entries AS e
              ON e.item_type = p.item_type AND e.stage = p.from_stage
            WHERE e.org_id = ? AND e.first_entered_at >= ? AND e.first_entered_at < ?
        ),
        converted AS (
            SELECT n.pair_order, n.item_id
            FROM entered AS n
            JOIN pairs AS p USING (pair_order)
            JOIN marts.funnel_stage_entries AS t
              ON t.item_type = p.item_type AND t.stage = p.to_stage AND t.item_id = n.item_id
            WHERE t.org_id = ? AND t.first_entered_at >= n.first_entered_at AND t.first_entered_at < ?
        )
        SELECT p.pair_order, p.item_type, p.from_stage, p.to_stage,
               (SELECT count(*) FROM entered AS n WHERE n.pair_order = p.pair_order)::BIGINT AS entered,
               (SELECT count(*) FROM converted AS c WHERE c.pair_order = p.pair_order)::BIGINT AS converted
        FROM pairs AS p
        ORDER BY p.pair_order
        """,
        [*(v for pair in HEADLINE_PAIRS for v in pair), org_id, start, end, org_id, end],
        org=org_id,
    ).with_columns(
        (pl.col("converted") / pl.when(pl.col("entered") > 0).then(pl.col("entered"))).alias(
            "conversion_rate"
        )
    )


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def sla_clocks(path: str, version: str, org_id: str, start: dt.datetime, end: dt.datetime) -> pl.DataFrame:
    """Per SLA metric (every metric the org has clocks for), the clocks that became eligible in the
    period, as `sla_compliance_weekly` places them: at their stop when they met the SLA, at their
    deadline when they breached. Compliance and breach rate on the 0–100 scale; null when none did."""
    return db.fetch(
        path,
        """
        WITH clocks AS (
            SELECT metric, is_eligible, is_breached,
                   CASE WHEN is_breached THEN deadline_at ELSE stopped_at END AS eligible_at
            FROM marts.sla_clocks
            WHERE org_id = ?
        )
        SELECT metric,
               count(*) FILTER (WHERE is_eligible AND eligible_at >= ? AND eligible_at < ?)::BIGINT
                   AS eligible_items,
               count(*) FILTER (WHERE is_eligible AND is_breached AND eligible_at >= ? AND eligible_at < ?)::BIGINT
                   AS breached_items
        FROM clocks
        GROUP BY metric
        ORDER BY coalesce(list_position(['triage', 'proposal', 'response'], metric), 99), metric
        """,
        [org_id, start, end, start, end],
        org=org_id,
    ).with_columns(
        (100.0 * (pl.col("eligible_items") - pl.col("breached_items")) / _nonzero("eligible_items")).alias(
            "compliance_pct"
        ),
        (100.0 * pl.col("breached_items") / _nonzero("eligible_items")).alias("breach_rate_pct"),
    )


def _nonzero(column: str) -> pl.Expr:
    """The column, null where it is 0 (a rate over nothing is unknown, not zero)."""
    return pl.when(pl.col(column) > 0).then(pl.col(column))


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def closes(path: str, version: str, org_id: str, start: dt.datetime, end: dt.datetime) -> dict[str, Any]:
    """Pursuits won and lost with `closed_at` in the period, their forecast value, and how many of them
    have no reason code; `win_rate` = won ÷ (won + lost), None when nothing closed."""
    row = db.fetch(
        path,
        """
        SELECT count(*) FILTER (WHERE outcome = 'won')::BIGINT AS won,
               count(*) FILTER (WHERE outcome = 'lost')::BIGINT AS lost,
               coalesce(sum(forecast_value_usd) FILTER (WHERE outcome = 'won'), 0)::DOUBLE AS won_value_usd,
               coalesce(sum(forecast_value_usd) FILTER (WHERE outcome = 'lost'), 0)::DOUBLE AS lost_value_usd,
               count(*) FILTER (WHERE reason_code IS NULL)::BIGINT AS missing_reason
        FROM marts.pursuits
        WHERE org_id = ? AND outcome IN ('won', 'lost') AND closed_at >= ? AND closed_at < ?
        """,
        [org_id, start, end],
        org=org_id,
    ).row(0, named=True)
    closed = row["won"] + row["lost"]
    return {**row, "closed": closed, "win_rate": row["won"] / closed if closed else None}


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def win_loss(path: str, version: str, org_id: str, start: dt.datetime, end: dt.datetime) -> pl.DataFrame:
    """`marts.win_loss`'s rows for the pursuits closed in the period: per outcome and reason code
    (`missing` when none), pursuits, forecast value and median days from creation to close."""
    return db.fetch(
        path,
        """
        SELECT outcome,
               coalesce(reason_code, 'missing') AS reason_code,
               count(*)::BIGINT AS pursuits,
               coalesce(sum(forecast_value_usd), 0)::DOUBLE AS value_usd,
               quantile_cont(date_diff('microsecond', created_at, closed_at) / 86400000000.0, 0.5)::DOUBLE
                   AS median_days_to_close
        FROM marts.pursuits
        WHERE org_id = ? AND outcome IN ('won', 'lost') AND closed_at >= ? AND closed_at < ?
        GROUP BY ALL
        ORDER BY outcome, reason_code
        """,
        [org_id, start, end],
        org=org_id,
    )


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def new_pursuits(
    path: str, version: str, org_id: str, start: dt.datetime, end: dt.datetime
) -> dict[str, Any]:
    """Pursuits created (promoted from a candidate) in the period and their forecast value."""
    row = db.fetch(
        path,
        """
        SELECT count(*)::BIGINT AS pursuits, coalesce(sum(forecast_value_usd), 0)::DOUBLE AS value_usd
        FROM marts.pursuits
        WHERE org_id = ? AND created_at >= ? AND created_at < ?
        """,
        [org_id, start, end],
        org=org_id,
    ).row(0, named=True)
    return dict(row)


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def owned_work(path: str, version: str, org_id: str, start: dt.datetime, end: dt.datetime) -> dict[str, Any]:
    """Work that reached an owner in the period: candidates and pursuits created with an owner, and
    pursuits with an owner won or lost (by `closed_at`)."""
    row = db.fetch(
        path,
        """
        SELECT
            (SELECT count(*) FROM marts.candidates
              WHERE org_id = ? AND owner IS NOT NULL AND created_at >= ? AND created_at < ?)::BIGINT
                AS new_candidates,
            (SELECT count(*) FROM marts.pursuits
              WHERE org_id = ? AND owner IS NOT NULL AND created_at >= ? AND created_at < ?)::BIGINT
                AS new_pursuits,
            (SELECT count(*) FROM marts.pursuits
              WHERE org_id = ? AND owner IS NOT NULL AND outcome = 'won'
                AND closed_at >= ? AND closed_at < ?)::BIGINT AS won,
            (SELECT count(*) FROM marts.pursuits
              WHERE org_id = ? AND owner IS NOT NULL AND outcome = 'lost'
                AND closed_at >= ? AND closed_at < ?)::BIGINT AS lost
        """,
        [org_id, start, end] * 4,
        org=org_id,
    ).row(0, named=True)
    return dict(row)


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def gate_attempts(path: str, version: str, org_id: str, start: dt.datetime, end: dt.datetime) -> pl.DataFrame:
    """Per gate (pink, red), the attempts whose stage change happened in the period and how many passed,
    from `marts.gate_attempts`; `pass_rate` null when there was none."""
    return db.fetch(
        path,
        """
        SELECT g.gate,
               count(a.event_id)::BIGINT AS attempts,
               count(a.event_id) FILTER (WHERE a.passed)::BIGINT AS passed
        FROM (VALUES ('pink'), ('red')) AS g (gate)
        LEFT JOIN marts.gate_attempts AS a
          ON a.gate = g.gate AND a.org_id = ? AND a.occurred_at >= ? AND a.occurred_at < ?
        GROUP BY g.gate
        ORDER BY g.gate
        """,
        [org_id, start, end],
        org=org_id,
    ).with_columns((pl.col("passed") / _nonzero("attempts")).alias("pass_rate"))
