"""The dashboard's door to the snapshot: `dagster_project.serving.reader`, under the names pages use.

Every query opens a short-lived, read-only connection (the reader's), so the dashboard never holds the
file between queries and never blocks the next publish; a query that races the swap is retried before
the page is told the data is refreshing. The exceptions are the reader's own, so a page can tell a
missing snapshot from one being replaced or one published by an older pipeline.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

import duckdb
import polars as pl

from dagster_project.serving import reader
from dagster_project.serving.reader import (
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
    "fetch",
    "run",
    "snapshot_token",
]

T = TypeVar("T")

# Backoff between attempts, read at each call (tests shorten it); the reader's budget by default.
RETRY_DELAYS_S: tuple[float, ...] = reader.RETRY_DELAYS_S


def fetch(path: Path | str, sql: str, params: Sequence[object] = ()) -> pl.DataFrame:
    """Run one parameterised query against the snapshot and return a polars frame (timestamps in UTC)."""
    return reader.fetch(path, sql, params, retry_delays=RETRY_DELAYS_S)


def run(path: Path | str, work: Callable[[duckdb.DuckDBPyConnection], T]) -> T:
    """Call `work` with a short-lived read-only connection to the snapshot (session time zone UTC).

    For questions that need more than one statement on the same connection (e.g. loading the fts
    extension before a search). Same retries and exceptions as `fetch`; `work` must only read.
    """
    return reader.run(path, work, retry_delays=RETRY_DELAYS_S)
