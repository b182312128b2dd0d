"""The dashboard's door to the snapshot: `dagster_project.serving.reader`, scoped to one org per read.

Every query opens a short-lived, read-only connection (the reader's), so the dashboard never holds the
file between queries and never blocks the next publish; a query that races the swap is retried before
the page is told the data is refreshing. The exceptions are the reader's own, so a page can tell a
missing snapshot from one being replaced or one published by an older pipeline.

Org data is read only through the reader's `OrgScope`: `fetch` and `run` need the org they read for and
open the snapshot so that only that org's rows are there (a query that forgets its `WHERE org_id` still
cannot see another org). The pages check first that the signed-in user may read that org
(`ui.page_context`). The reader's system scope is used for exactly three fixed questions that hold no
org's data: the snapshot's info row, the list of org ids (for admins, who may read every org), and the
records no org could be read from (`fetch_unattributed`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import duckdb
import polars as pl

from dagster_project.serving import reader
from dagster_project.serving.reader import (
    OrgScope,
    SnapshotIncompatible,
    SnapshotMissing,
    SnapshotUnavailable,
    snapshot_token,
)

__all__ = [
    "RETRY_DELAYS_S",
    "SnapshotIncompatible",
    "SnapshotMissing",
    "SnapshotUnavailable",
    "UnscopedRead",
    "fetch",
    "fetch_unattributed",
    "org_ids",
    "reads_of_one_render",
    "run",
    "snapshot_info",
    "snapshot_token",
]

T = TypeVar("T")

# Backoff between attempts, read at each call (tests shorten it); the reader's budget by default.
RETRY_DELAYS_S: tuple[float, ...] = reader.RETRY_DELAYS_S

_INFO_SQL = "SELECT snapshot_version, built_at, published_at, events FROM marts.snapshot_info LIMIT 1"
_ORG_IDS_SQL = """
    SELECT org_id FROM marts.event_volume_daily WHERE org_id IS NOT NULL
    UNION
    SELECT org_id FROM marts.ingest_ledger_by_org WHERE org_id IS NOT NULL
    ORDER BY org_id
"""


class UnscopedRead(ValueError):
    """A read of org data without the org it is for: the dashboard never reads every org at once."""


def _scope(org: object) -> OrgScope:
    if not isinstance(org, str) or not org:
        raise UnscopedRead("the dashboard reads org data for one org: pass org=<org id>")
    if not org.isprintable():
        # No org id holds control characters (a NUL would also end the scope's SQL literal early).
        raise UnscopedRead("not an org id: it holds control characters")
    return OrgScope([org])


def reads_of_one_render():
    """A context for one page render: its reads share one open of the snapshot per scope (the reader's
    `reusing_opens`), closed when the render ends, instead of opening the file for every query."""
    return reader.reusing_opens()


def fetch(path: Path | str, sql: str, params: Sequence[object] = (), *, org: str) -> pl.DataFrame:
    """Run one parameterised query against the snapshot as `org` sees it; a polars frame (timestamps in UTC)."""
    return reader.fetch(path, sql, params, scope=_scope(org), retry_delays=RETRY_DELAYS_S)


def run(path: Path | str, work: Callable[[duckdb.DuckDBPyConnection], T], *, org: str) -> T:
    """Call `work` with a short-lived read-only connection to the snapshot as `org` sees it (UTC).

    For questions that need more than one statement on the same connection (e.g. loading the fts
    extension before a search). Same retries and exceptions as `fetch`; `work` must only read.
    """
    return reader.run(path, work, scope=_scope(org), retry_delays=RETRY_DELAYS_S)


def snapshot_info(path: Path | str) -> dict[str, Any] | None:
    """The snapshot's info row (`marts.snapshot_info`: which publish, as of when), None when it is empty.

    A snapshot without the table raises SnapshotIncompatible, like any read of a missing table.
    """
    df = reader.fetch(path, _INFO_SQL, scope=reader.SYSTEM, retry_delays=RETRY_DELAYS_S)
    if df.is_empty():
        return None
    row = df.row(0, named=True)
    return {
        "version": str(row["snapshot_version"]),
        "built_at": row["built_at"],
        "published_at": row["published_at"],
        "events": int(row["events"] or 0),
    }


def org_ids(path: Path | str, within: Sequence[str] | None) -> list[str]:
    """The orgs the snapshot holds, sorted: among `within` (a user's granted orgs, read through their
    scope), or every org when `within` is None (an admin's view)."""
    if within is None:
        df = reader.fetch(path, _ORG_IDS_SQL, scope=reader.SYSTEM, retry_delays=RETRY_DELAYS_S)
    elif not within:
        return []
    else:
        df = reader.fetch(path, _ORG_IDS_SQL, scope=OrgScope(within), retry_delays=RETRY_DELAYS_S)
    return df.get_column("org_id").to_list()


def fetch_unattributed(path: Path | str, sql: str, params: Sequence[object], *, org: str) -> pl.DataFrame:
    """The one cross-org read: records without a readable org, from files that also hold `org`'s records.

    Such records belong to no org a scope can name, so an org scope cannot see them. The two queries
    that use this (`queries.overview.unattributed_*`) return only files holding `org`'s records, count
    the other orgs in a file without naming them and withhold a record's text when there are any.
    """
    _scope(org)
    return reader.fetch(path, sql, params, scope=reader.SYSTEM, retry_delays=RETRY_DELAYS_S)
