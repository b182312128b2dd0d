"""A tiny hand-made warehouse: the `raw` tables of docs/data-layout.md with their exact column types.

Reusable by any test that needs the ingest's output without running the ingest. This folder has no
`__init__.py` (a package named `dbt` would shadow dbt-core), so import it by putting `tests/dbt` on
`sys.path` (pytest does that for tests in this folder) or load it with `importlib`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from dagster_project.warehouse.store import RAW_TABLES, ensure_raw_schema

ENVELOPE = ("event_id", "org_id", "occurred_at", "event_name", "entity_type", "entity_id", "actor", "payload")
DEFAULT_INGESTED_AT = "2026-11-28T00:00:00+00:00"


def create_raw_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Create schema `raw` and its four tables (empty), with the ingest's own DDL."""
    ensure_raw_schema(con)


def _utc(value: str | datetime) -> datetime:
    ts = datetime.fromisoformat(value) if isinstance(value, str) else value
    if ts.tzinfo is None:
        raise ValueError(f"timestamp without offset: {value!r}")
    return ts.astimezone(UTC)


def content_hash(event: Mapping[str, Any]) -> str:
    """sha256 of a canonical form: UTC timestamp to the microsecond, JSON with sorted keys."""
    canonical = {k: event.get(k) for k in ENVELOPE}
    canonical["occurred_at"] = _utc(event["occurred_at"]).isoformat(timespec="microseconds")
    canonical["payload"] = event.get("payload") or {}
    text = json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def insert_events(
    con: duckdb.DuckDBPyConnection,
    events: Iterable[Mapping[str, Any]],
    *,
    source_file: str = "fixture.jsonl",
    ingested_at: str = DEFAULT_INGESTED_AT,
) -> int:
    """Insert contract-shaped events (dicts of the envelope fields) into raw.events; returns the count."""
    rows = [
        (
            e["org_id"],
            e["event_id"],
            _utc(e["occurred_at"]),
            e["event_name"],
            e["entity_type"],
            e["entity_id"],
            e.get("actor"),
            json.dumps(e.get("payload") or {}),
            content_hash(e),
            _utc(ingested_at),
            source_file,
            line,
        )
        for line, e in enumerate(events, start=1)
    ]
    if rows:
        con.executemany(
            "insert into raw.events (org_id, event_id, occurred_at, event_name, entity_type, entity_id, "
            "actor, payload, content_hash, ingested_at, source_file, source_line) "
            "values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
    return len(rows)


def insert_rows(con: duckdb.DuckDBPyConnection, table: str, rows: Iterable[Mapping[str, Any]]) -> None:
    """Insert dict rows into raw.<table> (quarantine, ingest_ledger, ingest_ledger_orgs) by column name."""
    if table not in RAW_TABLES:
        raise ValueError(f"unknown raw table {table!r}")
    for row in rows:
        cols = list(row)
        placeholders = ", ".join("?" for _ in cols)
        con.execute(
            f"insert into raw.{table} ({', '.join(cols)}) values ({placeholders})", list(row.values())
        )


def create_raw_warehouse(
    path: str | Path,
    events: Iterable[Mapping[str, Any]] = (),
    *,
    quarantine: Iterable[Mapping[str, Any]] = (),
    ingest_ledger: Iterable[Mapping[str, Any]] = (),
    ingest_ledger_orgs: Iterable[Mapping[str, Any]] = (),
) -> Path:
    """Create a DuckDB file at `path` holding the raw tables filled with the given rows."""
    path = Path(path)
    with duckdb.connect(str(path)) as con:
        create_raw_tables(con)
        insert_events(con, events)
        insert_rows(con, "quarantine", quarantine)
        insert_rows(con, "ingest_ledger", ingest_ledger)
        insert_rows(con, "ingest_ledger_orgs", ingest_ledger_orgs)
    return path
