"""The one way to read a published snapshot (`<home>/serving.duckdb`): read-only, in UTC, scoped.

The pipeline publishes by writing a new file and swapping it in with `os.replace`, so a reader sees the
old file or the new one. Each open is a private in-memory DuckDB with the file attached read-only as
catalog `snapshot_file`: connecting to the path itself would hand back DuckDB's process-wide cached
instance of the *old* file while someone still holds it open. Readers never name that catalog; they read
`marts.<table>`, and what that name shows depends on the scope the connection was opened with:

- `SystemScope` (publish, sensors, alerting, operator commands): every org; `marts` is the file's own.
  Its users are named in a house rule (tests/unit/test_system_scope_users.py); no one gets it by default.
- `OrgScope(org_ids)` (a user's view): `marts` is a schema of views in the connection's own catalog, each
  a mart with an `org_id` column filtered to the scope's orgs. Marts without `org_id` are left out unless
  known to hold no org data (`ORG_FREE_TABLES`), so a query cannot forget the filter: the rows of other
  orgs are not there to be read. Full-text search works too: the index's term dictionary is cut to
  the scope's postings. A one-statement read (`fetch`) makes only the views of the marts it names, and
  which marts a file has is kept per file identity: making every view for every query was most of the
  cost of a dashboard's reads.

An open that races the swap (or meets a half-written file) is retried a few times, then reported as
`SnapshotUnavailable`; a missing file is `SnapshotMissing`, a snapshot without a table or column the
reader asks for is `SnapshotIncompatible` — so a page or a route can say what to do, not show a traceback.

Every read names its scope (`scope=`, no default): a caller that forgets it gets a TypeError at the call,
and one that passes something other than a scope (None, an org id, a set of ids) gets `UnscopedRead`,
so forgetting the scope never means reading every org.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TypeVar

import duckdb
import polars as pl

from dagster_project.memory.search import FTS_SCHEMA, POSTINGS_TABLE
from dagster_project.warehouse.store import quote_ident as _ident

T = TypeVar("T")

# Backoff between attempts; the whole budget stays under a second so a page or a request never hangs.
RETRY_DELAYS_S: tuple[float, ...] = (0.05, 0.15, 0.4)
# The attached file. Only this module names it (a house rule checks): readers go through `marts`.
CATALOG = "snapshot_file"
SCHEMA = "marts"
# Marts an org-scoped reader may see whole: they describe the snapshot, not any org's data.
ORG_FREE_TABLES = frozenset({"snapshot_info"})

Identity = tuple[int, int, int, int]


class SnapshotMissing(RuntimeError):
    """No snapshot has been published at the path yet."""


class SnapshotUnavailable(RuntimeError):
    """The snapshot exists but could not be opened, even after retries (being replaced, locked, corrupt)."""


class SnapshotIncompatible(RuntimeError):
    """The snapshot lacks a table or column the reader needs (published by an older pipeline)."""


class UnscopedRead(TypeError):
    """A read whose scope is not a `SystemScope` or an `OrgScope`: refused before the file is opened."""


# --- scopes ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SystemScope:
    """Every org: for the pipeline's own readers (publish checks, sensors, alerting, operator commands)."""


@dataclass(frozen=True, init=False)
class OrgScope:
    """Only these orgs' rows: every mart with an `org_id` column is filtered to them."""

    org_ids: frozenset[str]

    def __init__(self, org_ids: Iterable[str]) -> None:
        if isinstance(org_ids, str):  # a bare string would become a set of its characters
            org_ids = [org_ids]
        ids = frozenset(org_ids)
        if not ids or not all(isinstance(o, str) and o for o in ids):
            raise ValueError(f"an OrgScope needs one or more non-empty org ids, got {sorted(map(str, ids))}")
        object.__setattr__(self, "org_ids", ids)


SYSTEM = SystemScope()
Scope = SystemScope | OrgScope


def _require_scope(scope: object) -> Scope:
    # A None or a bare org id that slipped through must not fall back to reading every org.
    if not isinstance(scope, SystemScope | OrgScope):
        raise UnscopedRead(
            f"a snapshot read needs scope=OrgScope([...]) or scope=SYSTEM, got {type(scope).__name__}"
        )
    return scope


# --- identity and info ----------------------------------------------------------------------------------


def snapshot_identity(path: Path | str) -> Identity | None:
    """The file's identity on disk (device, inode, size, mtime); None when it does not exist.

    `os.replace` gives the new snapshot a new inode, so the identity changes on every publish.
    """
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def snapshot_token(path: Path | str) -> str | None:
    """The identity as a short string (inode, size, mtime), for cache keys; None when there is no file."""
    identity = snapshot_identity(path)
    return None if identity is None else f"{identity[1]}-{identity[2]}-{identity[3]}"


@dataclass(frozen=True)
class SnapshotInfo:
    """`marts.snapshot_info`: which publish this is and the time its data is as of."""

    snapshot_version: str
    built_at: datetime | None
    published_at: datetime | None
    events: int

    @property
    def data_as_of(self) -> datetime | None:
        """The as-of time of the build (earlier than `published_at` for a past view)."""
        return self.built_at


def read_info(con: duckdb.DuckDBPyConnection) -> SnapshotInfo | None:
    """The snapshot's info row through a reader connection; None when the snapshot has none."""
    try:
        row = con.execute(
            f"select snapshot_version, built_at, published_at, events from {SCHEMA}.snapshot_info limit 1"
        ).fetchone()
    except (duckdb.CatalogException, duckdb.BinderException):
        return None
    if row is None or row[0] is None:
        return None
    return SnapshotInfo(str(row[0]), row[1], row[2], int(row[3] or 0))


# --- opening --------------------------------------------------------------------------------------------


def _literal(text: str) -> str:
    """A SQL string literal, for the statements DuckDB cannot parameterise (ATTACH, a view's body)."""
    return "'" + text.replace("'", "''") + "'"


def _scoped_view(table: str, *, has_org: bool, scope: OrgScope) -> str | None:
    """The body of the view an org-scoped reader sees as `marts.<table>`; None to leave the table out."""
    source = f"{CATALOG}.{SCHEMA}.{_ident(table)}"
    if has_org:
        # View bodies cannot take parameters; the ids are literals (quotes doubled), fixed per connection.
        orgs = ", ".join(_literal(o) for o in sorted(scope.org_ids))
        return f"select * from {source} where org_id in ({orgs})"
    if table in ORG_FREE_TABLES:
        return f"select * from {source}"
    return None


def _scoped_search_index(scope: OrgScope) -> list[str]:
    """What `memory.search` needs of the fts index schema, scoped: its `tokenize` macro (text in, terms
    out) and the term dictionary cut to the terms in the scope's postings, so that the words of other
    orgs' memory are not there to be listed. The index's own statistics span every org and stay out."""
    fts = f"{CATALOG}.{FTS_SCHEMA}"
    orgs = ", ".join(_literal(o) for o in sorted(scope.org_ids))
    return [
        f"create schema memory.{FTS_SCHEMA}",
        f"create macro memory.{FTS_SCHEMA}.tokenize(s) as {fts}.tokenize(s)",
        f"create view memory.{FTS_SCHEMA}.dict as select * from {fts}.dict where termid in "
        f"(select termid from {CATALOG}.{POSTINGS_TABLE} where org_id in ({orgs}))",
    ]


@dataclass(frozen=True)
class Marts:
    """The marts one statement reads (`marts_named`): an org-scoped open makes views of these alone."""

    tables: frozenset[str]
    search_index: bool


# `marts.<table>` or `marts."<table>"`, in any case and spacing DuckDB accepts.
_MART_REFERENCE = re.compile(r'\bmarts\s*\.\s*(?:"((?:[^"]|"")+)"|([A-Za-z_][A-Za-z0-9_$]*))', re.IGNORECASE)


def marts_named(sql: str) -> Marts:
    """The marts `sql` names. Creating the views of an org scope is most of an open's cost, so a one-statement
    read makes only those it needs; a name missed here is absent from the scope, which fails the read
    (SnapshotIncompatible), never widens it."""
    tables = {
        (quoted.replace('""', '"') if quoted else bare).lower()
        for quoted, bare in _MART_REFERENCE.findall(sql)
    }
    return Marts(frozenset(tables), FTS_SCHEMA in sql.lower())


# The marts of each snapshot file recently opened in this process, by its identity: a published file
# never changes (a publish swaps in a new one, with a new identity), and listing its columns is the dearer
# half of an org-scoped open. Bounded: old identities are dropped first.
_MARTS_OF: dict[Identity, tuple[dict[str, bool], bool]] = {}
_MARTS_OF_LOCK = threading.Lock()
_MARTS_OF_KEPT = 16


def _marts_of(con: duckdb.DuckDBPyConnection, identity: Identity) -> tuple[dict[str, bool], bool]:
    """Each mart of the attached file with whether it has an `org_id` column, and whether the file holds
    the search index's term dictionary."""
    with _MARTS_OF_LOCK:
        known = _MARTS_OF.get(identity)
    if known is not None:
        return known
    columns = con.execute(
        "select table_name, bool_or(column_name = 'org_id') from duckdb_columns() "
        "where database_name = ? and schema_name = ? group by table_name order by table_name",
        [CATALOG, SCHEMA],
    ).fetchall()
    has_dict = con.execute(
        "select count(*) from duckdb_tables() where database_name = ? and schema_name = ? and table_name = 'dict'",
        [CATALOG, FTS_SCHEMA],
    ).fetchone()[0]
    known = (dict(columns), bool(has_dict))
    with _MARTS_OF_LOCK:
        _MARTS_OF[identity] = known
        while len(_MARTS_OF) > _MARTS_OF_KEPT:
            del _MARTS_OF[next(iter(_MARTS_OF))]
    return known


def _expose(
    con: duckdb.DuckDBPyConnection, scope: Scope, identity: Identity, only: Marts | None = None
) -> tuple[set[str], bool]:
    """Make `marts.<table>` mean what the scope may see, on this connection and every cursor of it:
    every mart, or with `only` just the marts one statement names. Returns the marts now shown and
    whether the search index is (both empty for the system scope, which shows the file itself)."""
    if isinstance(scope, SystemScope):
        con.execute(f"use {CATALOG}")
        return set(), False
    views, shown, search_shown = _view_statements(con, scope, identity, only, set(), False)
    # One transaction: the scope's views appear together or not at all.
    con.execute(";\n".join(["begin", f"create schema memory.{SCHEMA}", *views, "commit", "use memory"]))
    return shown, search_shown


def _view_statements(
    con: duckdb.DuckDBPyConnection,
    scope: OrgScope,
    identity: Identity,
    only: Marts | None,
    shown: set[str],
    search_shown: bool,
) -> tuple[list[str], set[str], bool]:
    """The statements that add to an org-scoped connection the views of `only` (every mart when None)
    it does not show yet, the names of the marts they add, and whether they add the search index."""
    marts, has_dict = _marts_of(con, identity)
    statements: list[str] = []
    added: set[str] = set()
    for table, has_org in marts.items():
        if table in shown or (only is not None and table.lower() not in only.tables):
            continue
        body = _scoped_view(table, has_org=has_org, scope=scope)
        if body is not None:
            statements.append(f"create view memory.{SCHEMA}.{_ident(table)} as {body}")
            added.add(table)
    postings = POSTINGS_TABLE.removeprefix(f"{SCHEMA}.")
    search = not search_shown and has_dict and marts.get(postings) and (only is None or only.search_index)
    if search:
        statements += _scoped_search_index(scope)
    return statements, added, bool(search)


@dataclass(eq=False)
class OpenSnapshot:
    """One opened snapshot file: its identity, its scope and the connection that reads it."""

    path: Path
    identity: Identity
    scope: Scope
    con: duckdb.DuckDBPyConnection
    # What an org-scoped connection shows so far (`_expose`), so a reused open adds only what is new.
    shown: set[str] = field(default_factory=set)
    search_shown: bool = False

    @property
    def token(self) -> str:
        return f"{self.identity[1]}-{self.identity[2]}-{self.identity[3]}"

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A cursor for another thread, reading the same file through the same scope."""
        cur = self.con.cursor()
        # Settings are per connection: a cursor starts in the in-memory catalog and the machine's zone.
        use = f"use {CATALOG}; " if isinstance(self.scope, SystemScope) else ""
        cur.execute(f"{use}SET TimeZone = 'UTC'")
        return cur

    def info(self) -> SnapshotInfo | None:
        return read_info(self.con)

    def show(self, only: Marts | None) -> None:
        """Add the views of `only` (every mart when None) this org-scoped open does not show yet."""
        if isinstance(self.scope, SystemScope):
            return
        statements, added, search = _view_statements(
            self.con, self.scope, self.identity, only, self.shown, self.search_shown
        )
        if statements:
            try:
                self.con.execute(";\n".join(["begin", *statements, "commit"]))
            except duckdb.Error:
                # Not left in a failed transaction: the block's later reads use this connection too.
                with contextlib.suppress(duckdb.Error):
                    self.con.execute("rollback")
                raise
            self.shown |= added
            self.search_shown = self.search_shown or search

    def close(self) -> None:
        self.con.close()


def open_snapshot(
    path: Path | str,
    *,
    scope: Scope,
    retry_delays: Sequence[float] = RETRY_DELAYS_S,
    only: Marts | None = None,
) -> OpenSnapshot:
    """Open the snapshot at `path` read-only (session time zone UTC) as `scope` sees it; close it after.
    `only`: an org scope shows just these marts (see `marts_named`).

    Raises SnapshotMissing when there is no file, SnapshotUnavailable when it cannot be opened in time,
    UnscopedRead when `scope` is not a scope.
    """
    scope = _require_scope(scope)
    path = Path(path)
    last_error: Exception | None = None
    for delay in (*retry_delays, None):
        identity = snapshot_identity(path)
        if identity is None:
            raise SnapshotMissing(str(path))
        con = duckdb.connect(":memory:")
        try:
            con.execute("SET TimeZone = 'UTC'")
            con.execute(f"attach {_literal(str(path))} as {CATALOG} (read_only)")
        except duckdb.Error as exc:
            # Swapped or removed between the stat and the attach, locked, or a half-written file.
            con.close()
            last_error = exc
            if delay is not None:
                time.sleep(delay)
            continue
        if snapshot_identity(path) != identity:  # replaced meanwhile: which file did we get? open again
            con.close()
            continue
        try:
            shown, search_shown = _expose(con, scope, identity, only)
        except BaseException:
            con.close()
            raise
        return OpenSnapshot(path, identity, scope, con, shown, search_shown)
    if snapshot_identity(path) is None:
        raise SnapshotMissing(str(path))
    raise SnapshotUnavailable(f"{path}: {last_error}") from last_error


def incompatible(exc: duckdb.Error) -> SnapshotIncompatible:
    return SnapshotIncompatible(str(exc).splitlines()[0])


# --- one open per file and scope for a stretch of reads --------------------------------------------------

# The opens of the current `reusing_opens` block, by file and scope; None outside one. A context variable:
# a thread (Streamlit runs each page render on one) sees only its own block, never another thread's.
_REUSED: contextvars.ContextVar[dict[tuple[str, Scope], OpenSnapshot] | None] = contextvars.ContextVar(
    "workstream_reused_snapshot_opens", default=None
)


@contextmanager
def reusing_opens() -> Iterator[None]:
    """Within the block, this thread's reads of one file through one scope share one open instead of
    opening the file for each read, and every open is closed when the block ends. For a short stretch of
    reads that belong together, such as one page render: a new in-memory DuckDB and the file's attach are
    most of a small read's cost, and the reads of the block see one snapshot even if a publish swaps the
    file meanwhile. Nothing is held between blocks, so no reader keeps an old file (or an erased text in
    it) open past the render. A nested block is part of the outer one."""
    if _REUSED.get() is not None:
        yield
        return
    opens: dict[tuple[str, Scope], OpenSnapshot] = {}
    token = _REUSED.set(opens)
    try:
        yield
    finally:
        _REUSED.reset(token)
        for snapshot in opens.values():
            snapshot.close()


def _reused(
    path: Path, scope: Scope, retry_delays: Sequence[float], only: Marts | None
) -> OpenSnapshot | None:
    """The block's open of `path` for `scope` (opened now if it is the first read), showing `only`; None
    outside a `reusing_opens` block."""
    opens = _REUSED.get()
    if opens is None:
        return None
    key = (str(path), scope)
    snapshot = opens.get(key)
    if snapshot is None:
        snapshot = opens[key] = open_snapshot(path, scope=scope, retry_delays=retry_delays, only=only)
    else:
        snapshot.show(only)
    return snapshot


def _forget_reused(path: Path, scope: Scope) -> None:
    """Close the block's open of `path` for `scope` (it failed mid-read), so the next read opens afresh."""
    opens = _REUSED.get()
    snapshot = opens.pop((str(path), scope), None) if opens is not None else None
    if snapshot is not None:
        snapshot.close()


@contextmanager
def connect(
    path: Path | str,
    *,
    scope: Scope,
    retry_delays: Sequence[float] = RETRY_DELAYS_S,
    only: Marts | None = None,
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A short-lived read-only connection to the snapshot for `scope` (inside `reusing_opens`, the block's
    open); a missing table or column in what the block asks raises SnapshotIncompatible."""
    scope = _require_scope(scope)
    path = Path(path)
    reused = _reused(path, scope, retry_delays, only)
    snapshot = reused or open_snapshot(path, scope=scope, retry_delays=retry_delays, only=only)
    try:
        yield snapshot.con
    except (duckdb.CatalogException, duckdb.BinderException) as exc:
        raise incompatible(exc) from exc
    except duckdb.IOException:
        if reused is not None:
            _forget_reused(path, scope)
        raise
    finally:
        if reused is None:
            snapshot.close()


def run(
    path: Path | str,
    work: Callable[[duckdb.DuckDBPyConnection], T],
    *,
    scope: Scope,
    retry_delays: Sequence[float] = RETRY_DELAYS_S,
    only: Marts | None = None,
) -> T:
    """Call `work` with a short-lived connection to the snapshot; `work` must only read.

    An IO error while it runs (the file swapped under it) runs it again on a fresh open, within the same
    retry budget; a missing table or column is not transient and raises SnapshotIncompatible at once.
    """
    scope = _require_scope(scope)
    path = Path(path)
    last_error: Exception | None = None
    for delay in (*retry_delays, None):
        with connect(path, scope=scope, retry_delays=retry_delays, only=only) as con:
            try:
                return work(con)
            except duckdb.IOException as exc:
                last_error = exc
                _forget_reused(path, scope)  # the retry opens the file afresh, in a block too
        if delay is not None:
            time.sleep(delay)
    raise SnapshotUnavailable(f"{path}: {last_error}") from last_error


def fetch(
    path: Path | str,
    sql: str,
    params: Sequence[object] = (),
    *,
    scope: Scope,
    retry_delays: Sequence[float] = RETRY_DELAYS_S,
) -> pl.DataFrame:
    """Run one parameterised query against the snapshot and return a polars frame (timestamps in UTC)."""
    return run(
        path,
        lambda con: con.execute(sql, list(params)).pl(),
        scope=scope,
        retry_delays=retry_delays,
        only=marts_named(sql),
    )
