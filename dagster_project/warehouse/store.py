"""The one place the pipeline talks to DuckDB: connections in UTC, the raw schema, the writer lock."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import duckdb
from filelock import FileLock

RAW_TABLES = ("events", "quarantine", "ingest_ledger", "ingest_ledger_orgs")


def key_hash_sql(org_id: str, event_id: str) -> str:
    """SQL for an event key's stable 64-bit hash: the first 8 bytes of the MD5 digest of
    `org_id || 0x1F || event_id`, read big-endian (Python: `int.from_bytes(md5(key).digest()[:8], "big")`).

    Stored with each event (`raw.events.key_hash`) so the ingest's duplicate check joins one integer
    column of the log instead of its two key strings. MD5 is fixed by RFC 1321, where DuckDB's `hash()`
    may change between versions and would then miss stored keys. A collision only makes a candidate:
    the ingest compares the keys themselves. The org id cannot hold the separator (`ORG_ID_PATTERN`).
    """
    return f"('0x' || left(md5({org_id} || chr(31) || {event_id}), 16))::ubigint"


RAW_DDL = """
create schema if not exists raw;
create table if not exists raw.events (
    org_id varchar not null,
    event_id varchar not null,
    occurred_at timestamptz not null,
    event_name varchar not null,
    entity_type varchar not null,
    entity_id varchar not null,
    actor varchar,
    payload json not null,
    content_hash varchar not null,
    ingested_at timestamptz not null,
    source_file varchar not null,
    source_line bigint not null,
    key_hash ubigint
);
create table if not exists raw.quarantine (
    content_hash varchar not null,
    file varchar not null,
    line bigint not null,
    reason varchar not null,
    detail varchar,
    raw varchar,
    org_id varchar,
    event_id varchar,
    quarantined_at timestamptz not null
);
create table if not exists raw.ingest_ledger (
    content_hash varchar primary key,
    file varchar not null,
    format varchar not null,
    lines bigint not null,
    accepted bigint not null,
    duplicates bigint not null,
    quarantined bigint not null,
    org_id varchar,
    status varchar not null,
    ingested_at timestamptz not null
);
create table if not exists raw.ingest_ledger_orgs (
    content_hash varchar not null,
    file varchar not null,
    org_id varchar,
    lines bigint not null,
    accepted bigint not null,
    duplicates bigint not null,
    quarantined bigint not null
);
"""


def connect(path: Path | str, *, read_only: bool = False, retries: int = 50) -> duckdb.DuckDBPyConnection:
    """Open DuckDB in UTC; retry while another process holds the file lock (writers are short-lived)."""
    delay = 0.05
    for attempt in range(retries):
        try:
            con = duckdb.connect(str(path), read_only=read_only)
            break
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower() or attempt == retries - 1:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 1.0)
    con.execute("SET TimeZone = 'UTC'")
    if not read_only:
        # Bounded memory for big ingests and builds: DuckDB spills to disk past this (default 80 % of RAM).
        con.execute(f"SET memory_limit = '{memory_limit()}'")
    return con


def cursor(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """A second connection to the same database, for another thread; the time zone is per connection."""
    other = con.cursor()
    other.execute("SET TimeZone = 'UTC'")
    return other


def memory_limit() -> str:
    """DuckDB's memory cap for pipeline writers, e.g. `512MB` (env WORKSTREAM_DUCKDB_MEMORY)."""
    value = os.environ.get("WORKSTREAM_DUCKDB_MEMORY", "512MB").strip()
    if not value[:-2].replace(".", "", 1).isdigit() or value[-2:].upper() not in ("MB", "GB"):
        raise ValueError(f"WORKSTREAM_DUCKDB_MEMORY={value!r}: use e.g. 512MB or 1GB")
    return value


@contextmanager
def writer_lock(lock_path: Path, timeout: float = 600) -> Iterator[None]:
    """Serialize every warehouse writer (Dagster runs and the CLI) on one file lock."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(lock_path), timeout=timeout):
        yield


def quote_ident(name: str) -> str:
    """A schema, table or column name as a quoted SQL identifier, for names DuckDB cannot take as parameters."""
    return '"' + name.replace('"', '""') + '"'


def path_literal(path: Path | str) -> str:
    """A file path as a SQL string literal, for the statements DuckDB cannot parameterize (ATTACH, COPY)."""
    return "'" + str(path).replace("'", "''") + "'"


def ensure_raw_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create the raw tables, and bring an older warehouse's event log up to date: a log written
    before `key_hash` existed gets the column, and any row without a hash (an older ingest, or a row
    written by other means) gets it filled, since the duplicate check only finds stored keys by it."""
    con.execute(RAW_DDL)
    con.execute("alter table raw.events add column if not exists key_hash ubigint")
    con.execute(
        f"update raw.events set key_hash = {key_hash_sql('org_id', 'event_id')} where key_hash is null"
    )


def write_run_clock(con: duckdb.DuckDBPyConnection, as_of: datetime, now: datetime) -> None:
    """Set the run clock: the as-of time the core tables are computed for and the clock of the run that
    computed them (one row, replaced), inside the caller's transaction.

    The one stored copy of a run's as-of: the apply reads it back as the as-of its tables hold (to
    re-fold what a moved as-of touches) and dbt computes its models for it (`dbt/macros/as_of.sql`).
    A value in the database, not a `--vars` value, keeps dbt's compiled SQL identical across runs, so
    its partial parsing holds.
    """
    con.execute("delete from core.run_clock")
    con.execute("insert into core.run_clock values ($as_of, $now)", {"as_of": as_of, "now": now})


def read_run_clock(con: duckdb.DuckDBPyConnection) -> tuple[datetime, datetime] | None:
    """(as_of, now) of the run that last applied to this warehouse, or None before any run."""
    exists = con.execute(
        "select count(*) from information_schema.tables where table_schema = 'core' and table_name = 'run_clock'"
    ).fetchone()[0]
    if not exists:
        return None
    row = con.execute("select as_of, now from core.run_clock").fetchone()
    return None if row is None else (row[0], row[1])
