"""The API's snapshot versions: one open snapshot per file version, shared by every request.

Each version is `serving.reader.open_snapshot` (a private in-memory DuckDB with the file attached
read-only) held open by the process; each request reads through a cursor of it (`cursor()`). The
pipeline publishes by swapping a new file in with `os.replace`, so each request compares the file's
identity (device, inode, size, mtime) with the open one's and opens the new file when it changed. The
superseded version is closed once the last request using it is done; until then its (unlinked) file
stays readable, so in-flight requests finish on the version they started on.

Each version opens the file with the system scope once (the snapshot's info, which orgs it holds, the card
etags) and, for the org routes, once more per org asked for, with `OrgScope([org])`: a route reads
through `cursor(org)`, where `marts` holds that org's rows only, so a query that forgot its
`org_id` filter still cannot return another org's data. The caller checks the grant first. Each org
opening is a DuckDB instance of its own, so only the most recently used ones (`SCOPED_MAX`) stay open
while idle.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from dagster_project.memory.search import load_fts
from dagster_project.serving import reader
from dagster_project.serving.reader import (
    SYSTEM,
    Identity,
    OpenSnapshot,
    OrgScope,
    SnapshotIncompatible,
    SnapshotMissing,
    SnapshotUnavailable,
)
from dagster_project.warehouse.store import quote_ident as _ident

log = logging.getLogger(__name__)

ETAG_CACHE_MAX = 200_000
# Idle org openings kept per file, besides those in use (each is a DuckDB instance of a few MB).
SCOPED_MAX = 16
HELD_CACHE_MAX = 10_000
# Backoff when opening a snapshot races its replacement; the whole budget stays under a second.
OPEN_RETRY_DELAYS_S: tuple[float, ...] = reader.RETRY_DELAYS_S


@dataclass(eq=False)
class ScopedSnapshot:
    """The version's file opened for one org, and how many cursors read it now."""

    snapshot: OpenSnapshot
    users: int = 0


@dataclass(eq=False)
class SnapshotVersion:
    """One open snapshot file: its identity on disk, its connection and `marts.snapshot_info`."""

    snapshot: OpenSnapshot
    info: dict[str, Any] | None
    fts_error: str | None
    users: int = 0
    retired: bool = False
    # The marts with an `org_id` column, smallest first: an org with a row in none of them is not here.
    org_tables: tuple[str, ...] = ()
    # Whether this (immutable) file holds an org, per org asked about; bounded.
    held: dict[str, bool] = field(default_factory=dict)
    # Card etags seen in this (immutable) file, so a repeated revalidation needs no query; bounded.
    etags: dict[tuple[str, str, str], str] = field(default_factory=dict)
    # The same file opened with `OrgScope([org])`, per org asked for, least recently used first; idle
    # ones beyond SCOPED_MAX are closed, the rest with the version.
    scoped: OrderedDict[str, ScopedSnapshot] = field(default_factory=OrderedDict)
    scoped_lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def identity(self) -> Identity:
        return self.snapshot.identity

    @property
    def con(self) -> duckdb.DuckDBPyConnection:
        return self.snapshot.con

    def remember_etag(self, key: tuple[str, str, str], etag: str) -> None:
        if len(self.etags) >= ETAG_CACHE_MAX:
            self.etags.clear()
        self.etags[key] = etag

    @property
    def snapshot_version(self) -> str | None:
        return self.info.get("snapshot_version") if self.info else None

    def close(self) -> None:
        for scoped in self.scoped.values():
            scoped.snapshot.close()
        self.scoped.clear()
        self.snapshot.close()

    def evict_idle(self) -> None:
        """Close the least recently used org openings nobody reads beyond SCOPED_MAX idle ones (call
        with `scoped_lock` held)."""
        idle = [org_id for org_id, entry in self.scoped.items() if entry.users == 0]
        for org_id in idle[: max(0, len(idle) - SCOPED_MAX)]:
            self.scoped.pop(org_id).snapshot.close()


class SnapshotStore:
    """Hands out cursors on the current snapshot version, reopening when the file was replaced."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._current: SnapshotVersion | None = None

    def _identity(self) -> Identity | None:
        return reader.snapshot_identity(self.path)

    # What a caller reads never names the home's path (/health answers anyone): the operator finds
    # the path and the cause in the server's log.
    def _missing(self) -> SnapshotMissing:
        log.warning("no snapshot at %s yet: run `workstream run --home %s`", self.path, self.path.parent)
        return SnapshotMissing("no snapshot published yet: run `workstream run` on this home first")

    def _open(self) -> SnapshotVersion:
        try:
            snapshot = reader.open_snapshot(self.path, scope=SYSTEM, retry_delays=OPEN_RETRY_DELAYS_S)
        except SnapshotMissing:
            raise self._missing() from None
        except SnapshotUnavailable as exc:
            log.warning("the snapshot %s could not be opened: %s", self.path, exc.__cause__ or exc)
            raise SnapshotUnavailable("the snapshot could not be opened, retry shortly") from exc
        return self._prepare(snapshot)

    def _prepare(self, snapshot: OpenSnapshot) -> SnapshotVersion:
        con = snapshot.con
        fts_error = None
        try:
            load_fts(con)
        except Exception as exc:  # search answers 503 with this; the other routes still work
            fts_error = f"full-text search is unavailable: {exc}"
        try:
            cur = con.execute("select * from marts.snapshot_info limit 1")
            names = [d[0] for d in cur.description]
            row = cur.fetchone()
            info = dict(zip(names, row, strict=True)) if row else None
        except duckdb.CatalogException:
            info = None
        version = SnapshotVersion(snapshot, info, fts_error, org_tables=_org_tables(con))
        # Every card's etag, loaded once per (immutable) file in the background: a first-time
        # revalidation is then answered like a repeated one, without DuckDB.
        version.users += 1
        threading.Thread(target=self._preload_etags, args=(version,), daemon=True).start()
        return version

    def _preload_etags(self, version: SnapshotVersion) -> None:
        cursor = version.snapshot.cursor()
        try:
            rows = cursor.execute(
                "select org_id, entity_type, entity_id, etag from marts.memory_cards limit ?",
                [ETAG_CACHE_MAX],
            ).fetchall()
            version.etags.update(((org, kind, entity), etag) for org, kind, entity, etag in rows)
        except duckdb.Error:
            pass  # no cards table (an older snapshot): etags are then learnt per request
        finally:
            self.release(version, cursor)

    def _retire(self, version: SnapshotVersion) -> None:
        version.retired = True
        if version.users == 0:
            version.close()

    def _scoped(self, version: SnapshotVersion, org_id: str) -> OpenSnapshot | None:
        """The version's file opened for one org, counted as in use until `release`; None when the path
        holds another file by now."""
        with version.scoped_lock:
            entry = version.scoped.get(org_id)
            if entry is None:
                scoped = self._open_scoped(version, org_id)
                if scoped is None:
                    return None
                entry = version.scoped[org_id] = ScopedSnapshot(scoped)
            entry.users += 1
            version.scoped.move_to_end(org_id)
            version.evict_idle()
            return entry.snapshot

    def _open_scoped(self, version: SnapshotVersion, org_id: str) -> OpenSnapshot | None:
        try:
            scoped = reader.open_snapshot(
                self.path, scope=OrgScope([org_id]), retry_delays=OPEN_RETRY_DELAYS_S
            )
        except SnapshotMissing:
            return None
        except SnapshotUnavailable as exc:
            log.warning("the snapshot %s could not be opened: %s", self.path, exc.__cause__ or exc)
            raise SnapshotUnavailable("the snapshot could not be opened, retry shortly") from exc
        if scoped.identity != version.identity:
            scoped.close()
            return None
        # When fts cannot load, the version's fts_error already makes search answer 503.
        with contextlib.suppress(Exception):
            load_fts(scoped.con)
        return scoped

    def checkout(self, org_id: str | None = None) -> tuple[SnapshotVersion, duckdb.DuckDBPyConnection]:
        """The current version (opened or reopened as needed) and a new cursor on it, seeing only
        `org_id`'s rows when one is given (else every org: the system scope); pair with `release`."""
        for _attempt in range(len(OPEN_RETRY_DELAYS_S) + 1):
            version = self._checkout_version()
            if org_id is None:
                snapshot: OpenSnapshot | None = version.snapshot
            else:
                try:
                    snapshot = self._scoped(version, org_id)
                except BaseException:
                    self._release_version(version)
                    raise
            if snapshot is None:  # replaced between this version's open and the org's: start again
                self._release_version(version)
                continue
            # Outside the store's lock: a version with a user is never closed, and a cursor runs its
            # own set-up.
            try:
                cursor = snapshot.cursor()
            except BaseException:
                self._release_scoped(version, org_id)
                self._release_version(version)
                raise
            return version, cursor
        raise SnapshotUnavailable("the snapshot kept being replaced while it was opened, retry shortly")

    def holds(self, org_id: str) -> bool:
        """Whether the current file has a row of `org_id` in any mart (asked once per org and file)."""
        version = self._checkout_version()
        try:
            held = version.held.get(org_id)
            if held is None:
                cursor = version.snapshot.cursor()
                try:
                    held = any(
                        cursor.execute(
                            f"select 1 from marts.{_ident(t)} where org_id = ? limit 1", [org_id]
                        ).fetchone()
                        for t in version.org_tables
                    )
                finally:
                    cursor.close()
                if len(version.held) >= HELD_CACHE_MAX:
                    version.held.clear()
                version.held[org_id] = held
            return held
        finally:
            self._release_version(version)

    def _checkout_version(self) -> SnapshotVersion:
        identity = self._identity()
        with self._lock:
            current = self._current
            if identity is None:
                if current is not None:
                    self._retire(current)
                    self._current = None
                raise self._missing()
            if current is None or current.identity != identity:
                fresh = self._open()
                if current is not None:
                    self._retire(current)
                self._current = current = fresh
            current.users += 1
        return current

    def fresh_version(self) -> SnapshotVersion | None:
        """The open version if the file on disk is still it (one stat, no DuckDB); else None."""
        current = self._current
        if current is None or current.retired or self._identity() != current.identity:
            return None
        return current

    def release(
        self, version: SnapshotVersion, cursor: duckdb.DuckDBPyConnection, org_id: str | None = None
    ) -> None:
        """Give back what `checkout(org_id)` handed out."""
        cursor.close()
        self._release_scoped(version, org_id)
        self._release_version(version)

    def _release_scoped(self, version: SnapshotVersion, org_id: str | None) -> None:
        if org_id is None:
            return
        with version.scoped_lock:
            entry = version.scoped.get(org_id)
            if entry is not None:
                entry.users -= 1
            version.evict_idle()

    def _release_version(self, version: SnapshotVersion) -> None:
        with self._lock:
            version.users -= 1
            if version.retired and version.users == 0:
                version.close()

    @contextmanager
    def cursor(
        self, org_id: str | None = None
    ) -> Iterator[tuple[duckdb.DuckDBPyConnection, SnapshotVersion]]:
        """A cursor on the current version: `org_id`'s rows only when given, else the system scope."""
        version, cursor = self.checkout(org_id)
        try:
            yield cursor, version
        except (duckdb.CatalogException, duckdb.BinderException) as exc:
            raise SnapshotIncompatible(
                f"the snapshot lacks what this API needs (published by an older pipeline?): "
                f"{str(exc).splitlines()[0]}"
            ) from exc
        except duckdb.IOException as exc:
            log.warning("the snapshot %s could not be read: %s", self.path, exc)
            raise SnapshotUnavailable("the snapshot could not be read, retry shortly") from exc
        finally:
            self.release(version, cursor, org_id)

    def close(self) -> None:
        with self._lock:
            if self._current is not None:
                self._retire(self._current)
                self._current = None


def _org_tables(con: duckdb.DuckDBPyConnection) -> tuple[str, ...]:
    """The marts with an `org_id` column (system scope), smallest tables first and views last: an org
    that is there is then usually found in a summary table; only an absent one is looked for in all."""
    rows = con.execute(
        """select c.table_name from duckdb_columns() as c
           left join duckdb_tables() as t
             on t.database_name = c.database_name and t.schema_name = c.schema_name
            and t.table_name = c.table_name
           where c.database_name = current_database() and c.schema_name = 'marts' and c.column_name = 'org_id'
           order by t.table_name is null, coalesce(t.estimated_size, 0), c.table_name"""
    ).fetchall()
    return tuple(name for (name,) in rows)
