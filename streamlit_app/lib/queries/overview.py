"""Overview (event volume) and Data quality (ingest ledger, quarantine, unattributed records)."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

import polars as pl
import streamlit as st

from streamlit_app.lib import db
from streamlit_app.lib.queries.common import CACHE_TTL_S, EXAMPLE_ROWS

RAW_PREVIEW_CHARS = 160
WITHHELD = "(withheld)"

Grain = Literal["day", "week"]


# ------------------------------------------------------------------------------------- event volume


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def volume_options(path: str, version: str, org_id: str) -> dict[str, Any]:
    """Filter choices for an org: its first and last event date and its event names."""
    bounds = db.fetch(
        path,
        """
        SELECT min(event_date) AS first_date, max(event_date) AS last_date
        FROM marts.event_volume_daily
        WHERE org_id = ?
        """,
        [org_id],
        org=org_id,
    ).row(0, named=True)
    names = db.fetch(
        path,
        """
        SELECT DISTINCT event_name FROM marts.event_volume_daily
        WHERE org_id = ? AND events > 0
        ORDER BY event_name
        """,
        [org_id],
        org=org_id,
    )
    return {
        "first_date": bounds["first_date"],
        "last_date": bounds["last_date"],
        "event_names": names.get_column("event_name").to_list(),
    }


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def volume_kpis(
    path: str,
    version: str,
    org_id: str,
    start: dt.date,
    end: dt.date,
    event_names: tuple[str, ...] = (),
) -> dict[str, Any]:
    """Accepted events, distinct event types and first/last event date for an org within the filters.

    An empty `event_names` means every event type.
    """
    row = db.fetch(
        path,
        """
        SELECT coalesce(sum(events), 0)::BIGINT AS events,
               count(DISTINCT event_name) FILTER (WHERE events > 0) AS event_types,
               min(event_date) FILTER (WHERE events > 0) AS first_date,
               max(event_date) FILTER (WHERE events > 0) AS last_date,
               count(DISTINCT event_date) FILTER (WHERE events > 0) AS active_days
        FROM marts.event_volume_daily
        WHERE org_id = ?
          AND event_date BETWEEN ? AND ?
          AND (len(?::VARCHAR[]) = 0 OR list_contains(?::VARCHAR[], event_name))
        """,
        [org_id, start, end, list(event_names), list(event_names)],
        org=org_id,
    ).row(0, named=True)
    return dict(row)


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def volume_over_time(
    path: str,
    version: str,
    org_id: str,
    start: dt.date,
    end: dt.date,
    event_names: tuple[str, ...] = (),
    grain: Grain = "day",
) -> pl.DataFrame:
    """Events per day or ISO week (weeks start on Monday) and entity type, for the stacked chart."""
    return db.fetch(
        path,
        """
        SELECT CASE WHEN ? = 'week' THEN date_trunc('week', event_date)::DATE ELSE event_date END AS period,
               entity_type,
               sum(events)::BIGINT AS events
        FROM marts.event_volume_daily
        WHERE org_id = ?
          AND event_date BETWEEN ? AND ?
          AND (len(?::VARCHAR[]) = 0 OR list_contains(?::VARCHAR[], event_name))
        GROUP BY ALL
        HAVING sum(events) > 0
        ORDER BY period, entity_type
        """,
        [grain, org_id, start, end, list(event_names), list(event_names)],
        org=org_id,
    )


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def volume_by_event_name(
    path: str,
    version: str,
    org_id: str,
    start: dt.date,
    end: dt.date,
    event_names: tuple[str, ...] = (),
) -> pl.DataFrame:
    """Events per event name within the filters, largest first, with each name's share of the total."""
    return db.fetch(
        path,
        """
        SELECT event_name,
               entity_type,
               sum(events)::BIGINT AS events,
               sum(events) / sum(sum(events)) OVER () AS share,
               min(event_date) AS first_date,
               max(event_date) AS last_date
        FROM marts.event_volume_daily
        WHERE org_id = ?
          AND event_date BETWEEN ? AND ?
          AND events > 0
          AND (len(?::VARCHAR[]) = 0 OR list_contains(?::VARCHAR[], event_name))
        GROUP BY event_name, entity_type
        ORDER BY events DESC, event_name
        """,
        [org_id, start, end, list(event_names), list(event_names)],
        org=org_id,
    )


# ------------------------------------------------------------------------------------- data quality


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def ledger_totals(path: str, version: str, org_id: str) -> dict[str, int]:
    """The org's share of every ingested file, summed: files, records, accepted, duplicates, quarantined."""
    row = db.fetch(
        path,
        """
        SELECT count(DISTINCT content_hash) AS files,
               coalesce(sum(lines), 0)::BIGINT AS lines,
               coalesce(sum(accepted), 0)::BIGINT AS accepted,
               coalesce(sum(duplicates), 0)::BIGINT AS duplicates,
               coalesce(sum(quarantined), 0)::BIGINT AS quarantined
        FROM marts.ingest_ledger_by_org
        WHERE org_id = ?
        """,
        [org_id],
        org=org_id,
    ).row(0, named=True)
    return {k: int(v) for k, v in row.items()}


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def ingest_ledger(path: str, version: str, org_id: str) -> pl.DataFrame:
    """Per file, the org's records and how they were handled, with the lines = sum check.

    Format, status and ingest time are properties of the file (also of a file other orgs share, whose
    whole-file ledger row an org's scope does not show); the counts are the org's own.
    """
    return db.fetch(
        path,
        """
        SELECT file,
               format,
               status,
               ingested_at,
               lines,
               accepted,
               duplicates,
               quarantined,
               lines = accepted + duplicates + quarantined AS balanced
        FROM marts.ingest_ledger_by_org
        WHERE org_id = ?
        ORDER BY ingested_at DESC, file
        """,
        [org_id],
        org=org_id,
    )


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def quarantine_by_reason(path: str, version: str, org_id: str) -> pl.DataFrame:
    """Quarantined records of the org per reason code, most frequent first."""
    return db.fetch(
        path,
        """
        SELECT reason, count(*)::BIGINT AS records, count(DISTINCT content_hash)::BIGINT AS files
        FROM marts.quarantine
        WHERE org_id = ?
        GROUP BY reason
        ORDER BY records DESC, reason
        """,
        [org_id],
        org=org_id,
    )


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def quarantine_examples(
    path: str, version: str, org_id: str, reason: str, limit: int = EXAMPLE_ROWS
) -> pl.DataFrame:
    """The latest quarantined records of the org for one reason, raw text cut to a preview."""
    return db.fetch(
        path,
        """
        SELECT file,
               line,
               detail,
               CASE WHEN length(raw) > ? THEN left(raw, ?) || '…' ELSE raw END AS raw,
               quarantined_at
        FROM marts.quarantine
        WHERE org_id = ? AND reason = ?
        ORDER BY quarantined_at DESC, file, line
        LIMIT ?
        """,
        [RAW_PREVIEW_CHARS, RAW_PREVIEW_CHARS, org_id, reason, limit],
        org=org_id,
    )


# The files that hold records of the org (parameters: org, org), each with how many other orgs it holds:
# an unattributed record's content is shown only when that count is 0. One definition for both queries.
_FILE_ORGS = """
            SELECT content_hash,
                   count(DISTINCT org_id) FILTER (WHERE org_id IS NOT NULL AND org_id <> ?) AS other_orgs
            FROM marts.ingest_ledger_by_org
            GROUP BY content_hash
            HAVING bool_or(org_id = ?)
"""


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def unattributed_files(path: str, version: str, org_id: str) -> pl.DataFrame:
    """Records without a readable org, per file, limited to files that also hold records of this org.

    `other_orgs` counts the other tenants in the same file; when it is non-zero the records' content is
    withheld by `unattributed_examples` because it may belong to one of them.
    """
    return db.fetch_unattributed(
        path,
        """
        WITH file_orgs AS ("""
        + _FILE_ORGS
        + """)
        SELECT u.file, u.lines, u.accepted, u.duplicates, u.quarantined, f.other_orgs
        FROM marts.ingest_ledger_by_org AS u
        JOIN file_orgs AS f USING (content_hash)
        WHERE u.org_id IS NULL
        ORDER BY u.file
        """,
        [org_id, org_id],
        org=org_id,
    )


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def unattributed_examples(path: str, version: str, org_id: str, limit: int = EXAMPLE_ROWS) -> pl.DataFrame:
    """Quarantined records without a readable org from files that also hold this org's records.

    Detail and raw text are shown only when the file holds no other org's records; otherwise both
    read `WITHHELD`.
    """
    return db.fetch_unattributed(
        path,
        """
        WITH file_orgs AS ("""
        + _FILE_ORGS
        + """)
        SELECT q.file,
               q.line,
               q.reason,
               CASE WHEN f.other_orgs = 0 THEN q.detail ELSE ? END AS detail,
               CASE WHEN f.other_orgs > 0 THEN ?
                    WHEN length(q.raw) > ? THEN left(q.raw, ?) || '…'
                    ELSE q.raw END AS raw,
               f.other_orgs = 0 AS content_shown
        FROM marts.quarantine AS q
        JOIN file_orgs AS f USING (content_hash)
        WHERE q.org_id IS NULL
        ORDER BY q.file, q.line
        LIMIT ?
        """,
        [org_id, org_id, WITHHELD, WITHHELD, RAW_PREVIEW_CHARS, RAW_PREVIEW_CHARS, limit],
        org=org_id,
    )
