"""Every question the dashboard asks the snapshot, one cached function per question.

Rules that keep tenants apart and caches honest:
- SQL is parameterised (`?`), never formatted; user input only ever travels as a parameter.
- Every function takes `org_id` and filters on it. The org list is the one exception: it is how an
  org gets chosen.
- Cache keys are (snapshot path, snapshot version, org, filters). A new publish changes the version,
  so stale results are never served; different test files never share entries. The TTL only bounds
  memory. The version itself is read once per file identity (inode/size/mtime), so checking it on
  each rerun costs one `stat`.
- Metrics come from the marts as published; this module sums and filters them, it never re-derives
  business logic.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import polars as pl
import streamlit as st

from streamlit_app.lib import db, governance, settings

CACHE_TTL_S = 300
RAW_PREVIEW_CHARS = 160
EXAMPLE_ROWS = 50
WITHHELD = "(withheld)"

Grain = Literal["day", "week"]


@dataclass(frozen=True)
class Snapshot:
    """The published snapshot a page is reading: where it is and which build it holds."""

    path: str
    version: str
    built_at: dt.datetime | None
    published_at: dt.datetime | None
    events: int
    # The file's identity on disk (`db.snapshot_token`). It changes on every write, including the
    # in-place refresh of `marts.alerts`, which keeps the version.
    token: str = ""
    # A past snapshot under `<home>/as-of/` chosen in the sidebar's time travel, not the live one.
    past: bool = False


# --------------------------------------------------------------------------------------- snapshot


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def _snapshot_info(path: str, file_token: str) -> dict[str, Any]:
    # `file_token` is only part of the cache key: a replaced file gets a new token, hence a fresh read.
    df = db.fetch(
        path,
        "SELECT snapshot_version, built_at, published_at, events FROM marts.snapshot_info LIMIT 1",
    )
    if df.is_empty():
        return {"version": f"file:{file_token}", "built_at": None, "published_at": None, "events": 0}
    row = df.row(0, named=True)
    return {
        "version": str(row["snapshot_version"]),
        "built_at": row["built_at"],
        "published_at": row["published_at"],
        "events": int(row["events"] or 0),
    }


# Session-state key (and URL query parameter) of the sidebar's time travel: `LIVE` or a past file's name.
TIME_TRAVEL_KEY = "as_of"
LIVE = "live"


def chosen_snapshot_path() -> Path:
    """The live snapshot, or the past one chosen in the time travel if it is still there (only names
    listed under `<home>/as-of/` count, so no URL can point the app at another file)."""
    choice = st.session_state.get(TIME_TRAVEL_KEY)
    if choice and choice != LIVE:
        for path in settings.past_snapshot_paths():
            if path.name == choice:
                return path
    return settings.snapshot_path()


def snapshot_at(path: Path) -> Snapshot | None:
    """The snapshot in the file at `path`, or None when there is none."""
    token = db.snapshot_token(path)
    if token is None:
        return None
    try:
        info = _snapshot_info(str(path), token)
    except db.SnapshotMissing:
        return None
    return Snapshot(path=str(path), token=token, past=path != settings.snapshot_path(), **info)


def current_snapshot() -> Snapshot | None:
    """The snapshot being read (the live one unless time travel chose a past one), or None when
    nothing has been published yet."""
    return snapshot_at(chosen_snapshot_path())


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def org_ids(path: str, version: str) -> list[str]:
    """Every org with events or ingested files in the snapshot (the only cross-org question)."""
    df = db.fetch(
        path,
        """
        SELECT org_id FROM marts.event_volume_daily WHERE org_id IS NOT NULL
        UNION
        SELECT org_id FROM marts.ingest_ledger_by_org WHERE org_id IS NOT NULL
        ORDER BY org_id
        """,
    )
    return df.get_column("org_id").to_list()


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
    ).row(0, named=True)
    names = db.fetch(
        path,
        """
        SELECT DISTINCT event_name FROM marts.event_volume_daily
        WHERE org_id = ? AND events > 0
        ORDER BY event_name
        """,
        [org_id],
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
    ).row(0, named=True)
    return {k: int(v) for k, v in row.items()}


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def ingest_ledger(path: str, version: str, org_id: str) -> pl.DataFrame:
    """Per file, the org's records and how they were handled, with the lines = sum check.

    Format, status and ingest time are properties of the file; the counts are the org's own.
    """
    return db.fetch(
        path,
        """
        SELECT o.file,
               l.format,
               l.status,
               l.ingested_at,
               o.lines,
               o.accepted,
               o.duplicates,
               o.quarantined,
               o.lines = o.accepted + o.duplicates + o.quarantined AS balanced
        FROM marts.ingest_ledger_by_org AS o
        LEFT JOIN marts.ingest_ledger AS l USING (content_hash)
        WHERE o.org_id = ?
        ORDER BY l.ingested_at DESC NULLS LAST, o.file
        """,
        [org_id],
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
    )


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def unattributed_files(path: str, version: str, org_id: str) -> pl.DataFrame:
    """Records without a readable org, per file, limited to files that also hold records of this org.

    `other_orgs` counts the other tenants in the same file; when it is non-zero the records' content is
    withheld by `unattributed_examples` because it may belong to one of them.
    """
    return db.fetch(
        path,
        """
        WITH file_orgs AS (
            SELECT content_hash,
                   count(DISTINCT org_id) FILTER (WHERE org_id IS NOT NULL AND org_id <> ?) AS other_orgs
            FROM marts.ingest_ledger_by_org
            GROUP BY content_hash
            HAVING bool_or(org_id = ?)
        )
        SELECT u.file, u.lines, u.accepted, u.duplicates, u.quarantined, f.other_orgs
        FROM marts.ingest_ledger_by_org AS u
        JOIN file_orgs AS f USING (content_hash)
        WHERE u.org_id IS NULL
        ORDER BY u.file
        """,
        [org_id, org_id],
    )


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def unattributed_examples(path: str, version: str, org_id: str, limit: int = EXAMPLE_ROWS) -> pl.DataFrame:
    """Quarantined records without a readable org from files that also hold this org's records.

    Detail and raw text are shown only when the file holds no other org's records; otherwise both
    read `WITHHELD`.
    """
    return db.fetch(
        path,
        """
        WITH file_orgs AS (
            SELECT content_hash,
                   count(DISTINCT org_id) FILTER (WHERE org_id IS NOT NULL AND org_id <> ?) AS other_orgs
            FROM marts.ingest_ledger_by_org
            GROUP BY content_hash
            HAVING bool_or(org_id = ?)
        )
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
    )


# ----------------------------------------------------------------------------------------- pipeline

# Lifecycle vocabularies in display order (the contract's state machines); unknown states sort last.
ENTITY_STATES: dict[str, tuple[str, ...]] = {
    "signal": ("open", "touched", "linked", "dismissed"),
    "candidate": ("new", "triaged", "nurture", "on_hold", "archived", "promoted"),
    "pursuit": ("qual", "pink", "red", "submit", "won", "lost"),
}
ENTITY_TYPES: tuple[str, ...] = tuple(ENTITY_STATES)
STATE_ORDER: tuple[str, ...] = tuple(s for states in ENTITY_STATES.values() for s in states)
# An entity without an owner is counted, filtered and shown under this name.
UNASSIGNED = "—"
ENTITY_ROWS = 500

# One row per signal, candidate and pursuit of the org: type, id, state, owner and a human label
# (signal: source type; candidate: title; pursuit: its candidate's title, else its client id).
# Parameters: org_id x 4.
_ENTITIES_SQL = """
    SELECT 'signal' AS entity_type, signal_id AS entity_id, status AS state, owner,
           source_type AS label, entered_state_at, last_event_at
    FROM marts.signals
    WHERE org_id = ?
    UNION ALL
    SELECT 'candidate', candidate_id, status, owner, title, entered_state_at, last_event_at
    FROM marts.candidates
    WHERE org_id = ?
    UNION ALL
    SELECT 'pursuit', p.pursuit_id, p.stage, p.owner, coalesce(c.title, p.client_id), p.entered_state_at,
           p.last_event_at
    FROM marts.pursuits AS p
    LEFT JOIN marts.candidates AS c ON c.org_id = ? AND c.candidate_id = p.candidate_id
    WHERE p.org_id = ?
"""

# Filters shared by the pipeline queries; each empty list means "all". Parameters: see `_filter_params`.
_ENTITY_FILTERS = """
    (len(?::VARCHAR[]) = 0 OR list_contains(?::VARCHAR[], entity_type))
    AND (len(?::VARCHAR[]) = 0 OR list_contains(?::VARCHAR[], coalesce(owner, ?)))
    AND (len(?::VARCHAR[]) = 0 OR list_contains(?::VARCHAR[], state))
"""


def _filter_params(
    entity_types: tuple[str, ...], owners: tuple[str, ...], states: tuple[str, ...]
) -> list[object]:
    types, owner_list, state_list = list(entity_types), list(owners), list(states)
    return [types, types, owner_list, owner_list, UNASSIGNED, state_list, state_list]


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def pipeline_options(path: str, version: str, org_id: str) -> dict[str, Any]:
    """Filter choices for an org: its owners (unassigned last) and, per entity type, its states in order."""
    df = db.fetch(
        path,
        f"""
        SELECT DISTINCT entity_type, state, coalesce(owner, ?) AS owner
        FROM ({_ENTITIES_SQL})
        """,
        [UNASSIGNED, org_id, org_id, org_id, org_id],
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
) -> pl.DataFrame:
    """Entities per type, state and owner (null owner as `UNASSIGNED`), in lifecycle order."""
    return db.fetch(
        path,
        f"""
        WITH counts AS (
            SELECT entity_type, state, coalesce(owner, ?) AS owner, count(*)::BIGINT AS entities
            FROM ({_ENTITIES_SQL})
            WHERE {_ENTITY_FILTERS}
            GROUP BY ALL
        )
        SELECT entity_type, state, owner, entities
        FROM counts
        ORDER BY list_position(?::VARCHAR[], entity_type),
                 coalesce(list_position(?::VARCHAR[], state), 999), state,
                 owner = ?, owner
        """,
        [
            UNASSIGNED,
            org_id,
            org_id,
            org_id,
            org_id,
            *_filter_params(entity_types, owners, states),
            list(ENTITY_TYPES),
            list(STATE_ORDER),
            UNASSIGNED,
        ],
    )


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def pipeline_entities(
    path: str,
    version: str,
    org_id: str,
    entity_types: tuple[str, ...] = (),
    owners: tuple[str, ...] = (),
    states: tuple[str, ...] = (),
    limit: int = ENTITY_ROWS,
) -> pl.DataFrame:
    """The org's entities within the filters, most recently active first (at most `limit`)."""
    return db.fetch(
        path,
        f"""
        SELECT entity_type, entity_id, state, owner, label, entered_state_at, last_event_at
        FROM ({_ENTITIES_SQL})
        WHERE {_ENTITY_FILTERS}
        ORDER BY last_event_at DESC NULLS LAST, entity_type, entity_id
        LIMIT ?
        """,
        [org_id, org_id, org_id, org_id, *_filter_params(entity_types, owners, states), limit],
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
        """
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
               e.actor,
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
        ORDER BY occurred_at, ids.event_id
        """,
        [org_id, entity_type, entity_id] * 3,
    )


# ------------------------------------------------------------------------------------ quality gates


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
    )


# ----------------------------------------------------------------------------------- outbox health


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
    )


# ---------------------------------------------------------------------------------------------- today

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
    """The org's Today panel within the filters in rank order (at most `limit` rows), as published."""
    return db.fetch(
        path,
        f"""
        SELECT rank, badge, label, item_type, item_id, state, owner, due_date, tags, priority_score,
               priority_tier, urgency_points, value_points, stage_points, compliance_points,
               workload_points, why, sla_metric, hours_since_touch
        FROM marts.today_panel
        WHERE org_id = ? AND {_TODAY_FILTERS}
        ORDER BY rank, item_type, item_id
        LIMIT ?
        """,
        [org_id, *_today_params(item_types, owners, tiers, tags), limit],
    )


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def owner_workload(path: str, version: str, org_id: str) -> pl.DataFrame:
    """The org's owners as published, most open items first."""
    return db.fetch(
        path,
        """
        SELECT owner, total_items, critical_items, high_items, medium_items, low_items,
               avg_priority_score, sla_breaches, at_risk_items, stale_items, max_hours_without_touch
        FROM marts.owner_workload
        WHERE org_id = ?
        ORDER BY total_items DESC, owner
        """,
        [org_id],
    )


# ------------------------------------------------------------------------------------------------ sla

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
    )


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def sla_open_breaches(path: str, version: str, org_id: str, limit: int = TODAY_ROWS) -> pl.DataFrame:
    """The org's unresolved SLA breaches, longest over the threshold first (at most `limit`)."""
    return db.fetch(
        path,
        """
        SELECT item_type, item_id, metric, started_at, breached_at, threshold_hours, hours_over_threshold
        FROM marts.sla_breaches
        WHERE org_id = ? AND is_open
        ORDER BY hours_over_threshold DESC NULLS LAST, breached_at, item_type, item_id, metric
        LIMIT ?
        """,
        [org_id, limit],
    )


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def recent_alerts(
    path: str, version: str, org_id: str, file_token: str = "", limit: int = EXAMPLE_ROWS
) -> pl.DataFrame:
    """The org's latest SLA alerts, one row per alert and sink, newest first (`marts.alerts`).

    The alert run refreshes `marts.alerts` in the published file without a new snapshot version, so
    this cache is keyed on the file token (`Snapshot.token`) as well.
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
    )


# --------------------------------------------------------------------------------------------- memory

# Entity types in picker order (a client card is the client's roll-up: its own atoms and those of
# every candidate, pursuit and signal attached to it).
MEMORY_ENTITY_TYPES: tuple[str, ...] = ("client", "candidate", "pursuit", "signal")
# The JSON arrays of a card, in display order; each item is {atom_id, atom_type, content, occurred_at}.
CARD_SECTIONS: tuple[str, ...] = ("key_facts", "recent_activity", "decisions", "risks", "top_atoms")
MEMORY_TIMELINE_ROWS = 200
SEARCH_HITS = 20
_HIT_SCHEMA = {
    "atom_id": pl.String,
    "entity_type": pl.String,
    "entity_id": pl.String,
    "client_id": pl.String,
    "atom_type": pl.String,
    "occurred_at": pl.Datetime("us", "UTC"),
    "score": pl.Float64,
    "relevance": pl.Float64,
    "snippet": pl.String,
}


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def memory_entities(path: str, version: str, org_id: str) -> pl.DataFrame:
    """The org's memory cards: entity type and id, a label (a candidate's title when known), live atoms.

    Ordered by entity type (client, candidate, pursuit, signal), then id.
    """
    return db.fetch(
        path,
        """
        SELECT m.entity_type, m.entity_id, c.title AS label, m.atoms_total
        FROM marts.memory_cards AS m
        LEFT JOIN marts.candidates AS c
               ON m.entity_type = 'candidate' AND c.org_id = ? AND c.candidate_id = m.entity_id
        WHERE m.org_id = ?
        ORDER BY coalesce(list_position(?::VARCHAR[], m.entity_type), 99), m.entity_type, m.entity_id
        """,
        [org_id, org_id, list(MEMORY_ENTITY_TYPES)],
    )


def _json_items(value: Any) -> list[dict[str, Any]]:
    if value is None:
        return []
    items = json.loads(value) if isinstance(value, str) else value
    return [item for item in items or [] if isinstance(item, dict)]


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def memory_card(
    path: str, version: str, org_id: str, entity_type: str, entity_id: str
) -> dict[str, Any] | None:
    """One card as published, its JSON sections parsed into lists of dicts; None when there is no card."""
    df = db.fetch(
        path,
        """
        SELECT key_facts, recent_activity, decisions, risks, top_atoms, atoms_total, version, etag, built_at
        FROM marts.memory_cards
        WHERE org_id = ? AND entity_type = ? AND entity_id = ?
        LIMIT 1
        """,
        [org_id, entity_type, entity_id],
    )
    if df.is_empty():
        return None
    row = df.row(0, named=True)
    return {k: _json_items(v) if k in CARD_SECTIONS else v for k, v in row.items()}


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def memory_timeline(
    path: str, version: str, org_id: str, entity_type: str, entity_id: str, limit: int = MEMORY_TIMELINE_ROWS
) -> pl.DataFrame:
    """The entity's live atoms, newest first (at most `limit`); for a client also every atom rolled up to it."""
    return db.fetch(
        path,
        """
        SELECT occurred_at, atom_type, content, score, relevance, source, entity_type, entity_id, atom_id,
               version
        FROM marts.memory_atoms
        WHERE org_id = ?
          AND ((entity_type = ? AND entity_id = ?) OR (? = 'client' AND client_id = ?))
        ORDER BY occurred_at DESC, atom_id
        LIMIT ?
        """,
        [org_id, entity_type, entity_id, entity_type, entity_id, limit],
    )


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def memory_same_text(
    path: str, version: str, org_id: str, entity_type: str, entity_id: str, text: str
) -> pl.DataFrame:
    """The entity's live atoms (a client's: with every atom rolled up to it) that hold `text`, newest first.

    "Hold" ignores case and runs of whitespace, so a note copied into another atom with other line breaks
    still counts. Not limited like the timeline: a redaction must be able to reach every copy.
    """
    atoms = db.fetch(
        path,
        """
        SELECT entity_type, entity_id, atom_id, atom_type, content, version, occurred_at
        FROM marts.memory_atoms
        WHERE org_id = ?
          AND ((entity_type = ? AND entity_id = ?) OR (? = 'client' AND client_id = ?))
        ORDER BY occurred_at DESC, atom_id
        """,
        [org_id, entity_type, entity_id, entity_type, entity_id],
    )
    needle = governance.normalised_text(text)
    if not needle or atoms.is_empty():
        return atoms.clear()
    return atoms.filter(
        pl.col("content").map_elements(
            lambda c: needle in governance.normalised_text(c), return_dtype=pl.Boolean
        )
    )


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def memory_atom_states(path: str, version: str, org_id: str, atom_ids: tuple[str, ...]) -> dict[str, dict]:
    """Version and content of those of the org's atoms that are live in this snapshot, by atom id.

    An id missing from the answer is not a live atom (redacted, expired or never captured).
    """
    df = db.fetch(
        path,
        """
        SELECT atom_id, version, content
        FROM marts.memory_atoms
        WHERE org_id = ? AND list_contains(?::VARCHAR[], atom_id)
        """,
        [org_id, list(atom_ids)],
    )
    return {
        row["atom_id"]: {"version": row["version"], "content": row["content"]}
        for row in df.iter_rows(named=True)
    }


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def memory_search(
    path: str,
    version: str,
    org_id: str,
    query: str,
    entity_type: str | None = None,
    entity_id: str | None = None,
    client_id: str | None = None,
    limit: int = SEARCH_HITS,
) -> pl.DataFrame:
    """The org's best-matching live atoms for `query`, best first, with a markdown snippet (terms in bold).

    Runs `dagster_project.memory.search.search` over the snapshot's BM25 index (`marts.memory_search`,
    built at publish); the query text travels as a parameter. Raises `db.SnapshotIncompatible` when the
    snapshot has no index.
    """
    from dagster_project.memory import search as memory

    def run(con: Any) -> list[Any]:
        memory.load_fts(con)
        return memory.search(
            con,
            org_id,
            query,
            entity_type=entity_type,
            entity_id=entity_id,
            client_id=client_id,
            limit=limit,
        )

    hits = db.run(path, run)
    rows = [
        {
            "atom_id": h.atom_id,
            "entity_type": h.entity_type,
            "entity_id": h.entity_id,
            "client_id": h.client_id,
            "atom_type": h.atom_type,
            "occurred_at": h.occurred_at,
            "score": float(h.score),
            "relevance": float(h.relevance),
            "snippet": h.snippet,
        }
        for h in hits
    ]
    return pl.DataFrame(rows, schema=_HIT_SCHEMA)
