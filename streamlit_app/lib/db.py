"""The only module that touches DuckDB: one short-lived, read-only connection per query.

The pipeline publishes `serving.duckdb` by writing a new file and swapping it in with `os.replace`, so
a reader sees either the old file or the new one. Holding no connection between queries means the
dashboard never blocks the next publish. A query that races the swap (or a writer still holding the
file) fails fast with an IO error; it is retried a few times before the page is told the data is
refreshing. A missing file and a snapshot without the expected tables are their own exceptions so
pages can say what to do instead of showing a traceback.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

import duckdb
import polars as pl

T = TypeVar("T")

# Backoff between attempts; the whole budget stays under a second so a page never hangs.
RETRY_DELAYS_S: tuple[float, ...] = (0.05, 0.15, 0.4)


class SnapshotMissing(RuntimeError):
    """No snapshot has been published at the configured path yet."""


class SnapshotUnavailable(RuntimeError):
    """The snapshot exists but could not be opened, even after retries (being replaced, locked, corrupt)."""


class SnapshotIncompatible(RuntimeError):
    """The snapshot lacks a table or column the dashboard needs (published by an older pipeline)."""


def snapshot_token(path: Path | str) -> str | None:
    """A cheap identity of the file on disk (inode, size, mtime); None when it does not exist.

    `os.replace` gives the new snapshot a new inode, so the token changes on every publish.
    """
    try:
        stat = Path(path).stat()
    except FileNotFoundError:
        return None
    return f"{stat.st_ino}-{stat.st_size}-{stat.st_mtime_ns}"


def fetch(path: Path | str, sql: str, params: Sequence[object] = ()) -> pl.DataFrame:
    """Run one parameterised query against the snapshot and return a polars frame (timestamps in UTC)."""
    return run(path, lambda con: con.execute(sql, list(params)).pl())


def run(path: Path | str, work: Callable[[duckdb.DuckDBPyConnection], T]) -> T:
    """Call `work` with a short-lived read-only connection to the snapshot (session time zone UTC).

    For questions that need more than one statement on the same connection (e.g. loading the fts
    extension before a search). Same retries and exceptions as `fetch`; `work` must only read.
    """
    path = Path(path)
    last_error: Exception | None = None
    for delay in (*RETRY_DELAYS_S, None):
        if not path.exists():
            raise SnapshotMissing(str(path))
        try:
            with duckdb.connect(str(path), read_only=True) as con:
                con.execute("SET TimeZone = 'UTC'")
                return work(con)
        except (duckdb.CatalogException, duckdb.BinderException) as exc:
            # Not transient: retrying cannot conjure a missing table (catalog) or column (binder).
            raise SnapshotIncompatible(str(exc).splitlines()[0]) from exc
        except duckdb.IOException as exc:
            # Raised when the file vanishes or is swapped between the check and the open, when a
            # writer holds the lock, or when a half-written file is not a database yet.
            last_error = exc
        if delay is not None:
            time.sleep(delay)
    if not path.exists():
        raise SnapshotMissing(str(path))
    raise SnapshotUnavailable(f"{path}: {last_error}") from last_error
