"""The lifecycle engine's `core` tables for dbt tests: hand-made rows, or the fold of fixture events.

The tables are created with the apply step's own DDL (`dagster_project.lifecycle.store`). Rows are written
as the apply step writes them: already as of the run's as-of time, with a `cluster_id`. Like
`raw_fixture`, import it with `tests/dbt` on `sys.path` (pytest does that for tests in this folder).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from dagster_project.config.registry import ConfigRegistry
from dagster_project.control.export import ensure_control_schema
from dagster_project.identity.store import ensure_identity_schema, resolve_identities
from dagster_project.lifecycle.fold import fold, fold_all
from dagster_project.lifecycle.store import CORE, CORE_TABLES, ensure_core_schema
from dagster_project.memory.capture import capture_atoms
from dagster_project.scoring.tables import ensure_scoring_schema
from dagster_project.warehouse.store import write_run_clock

# Tables whose rows carry the internal `cluster_id`, and JSON columns: from the core tables' declaration.
CLUSTERED = {t.name for t in CORE if t.clustered}
JSON_COLUMNS = {c.name for t in CORE for c in t.columns if c.type == "json"}


def create_core_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Create schemas `core`, `control` and `scoring` and their tables (empty), with the steps' DDL."""
    ensure_core_schema(con)
    ensure_control_schema(con)
    ensure_identity_schema(con)
    ensure_scoring_schema(con)


def _utc(value: str | datetime) -> datetime:
    ts = datetime.fromisoformat(value) if isinstance(value, str) else value
    if ts.tzinfo is None:
        raise ValueError(f"timestamp without offset: {value!r}")
    return ts.astimezone(UTC)


def insert_core_rows(
    con: duckdb.DuckDBPyConnection,
    table: str,
    rows: Iterable[Mapping[str, Any]],
    *,
    cluster_id: str = "cluster-fixture",
) -> int:
    """Insert dict rows into core.<table> by column name; `cluster_id` is filled in where the table has one.

    Dicts and lists meant for JSON columns (`pink_checklist`, `red_checklist`, `value`) are serialised.
    """
    if table not in CORE_TABLES:
        raise ValueError(f"unknown core table {table!r}")
    count = 0
    for row in rows:
        values = dict(row)
        if table in CLUSTERED:
            values.setdefault("cluster_id", cluster_id)
        for column in JSON_COLUMNS & set(values):
            if values[column] is not None and not isinstance(values[column], str):
                values[column] = json.dumps(values[column])
        cols = list(values)
        placeholders = ", ".join("?" for _ in cols)
        con.execute(
            f"insert into core.{table} ({', '.join(cols)}) values ({placeholders})", list(values.values())
        )
        count += 1
    return count


def fold_into_core(
    con: duckdb.DuckDBPyConnection, events: Iterable[Mapping[str, Any]], *, as_of: str | datetime
) -> None:
    """Fold contract-shaped fixture events (as for `raw_fixture.insert_events`) as of `as_of` into core.

    One cluster per org (the real apply step clusters finer; the marts ignore `cluster_id`).
    """
    cut = _utc(as_of)
    folded = fold_all(
        [{**e, "occurred_at": _utc(e["occurred_at"]), "payload": e.get("payload") or {}} for e in events],
        as_of=cut,
    )

    def clustered(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{**r, "cluster_id": f"{r['org_id']}:all"} for r in rows]

    insert_core_rows(con, "signals", clustered(folded.signals))
    insert_core_rows(con, "candidates", clustered(folded.candidates))
    insert_core_rows(con, "pursuits", clustered(folded.pursuits))
    insert_core_rows(con, "client_parts", clustered(folded.clients))
    insert_core_rows(con, "contact_records", clustered(folded.contact_records))
    insert_core_rows(con, "user_records", clustered(folded.user_records))
    insert_core_rows(con, "identity_decisions", clustered(folded.identity_decisions))
    insert_core_rows(con, "transitions", clustered(folded.transitions))
    insert_core_rows(con, "rejected_events", clustered(folded.rejected_events))
    insert_core_rows(con, "config_registry", folded.config_registry)
    write_run_clock(con, cut, cut)
    resolve_identities(con)  # the identity step the apply runs last reads the rows just written


def fold_memory_into_core(
    con: duckdb.DuckDBPyConnection, events: Iterable[Mapping[str, Any]], *, as_of: str | datetime
) -> None:
    """Fill core.memory_atoms / core.memory_audit from fixture events as the apply step does.

    Each org's events are folded as of `as_of` and captured with `capture_atoms` (one cluster per org, as in
    `fold_into_core`; call both for the same events). Returns nothing; the rows carry `cluster_id` `<org>:all`.
    """
    cut = _utc(as_of)
    by_org: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for e in events:
        by_org[e["org_id"]].append(
            {**e, "occurred_at": _utc(e["occurred_at"]), "payload": e.get("payload") or {}}
        )
    for org_id in sorted(by_org):
        org_events = by_org[org_id]
        registry = ConfigRegistry.from_events(org_events)
        memory = capture_atoms(org_events, fold(org_events, as_of=cut), registry, cut)
        cluster = {"cluster_id": f"{org_id}:all"}
        insert_core_rows(con, "memory_atoms", [{**r, **cluster} for r in memory.atoms])
        insert_core_rows(con, "memory_audit", [{**r, **cluster} for r in memory.audit])


def rows(warehouse: Path, sql: str) -> list[dict[str, Any]]:
    """The result of `sql` on a built warehouse, as dicts (read-only)."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        cur = con.execute(sql)
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
