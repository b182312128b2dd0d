"""The write-back side of an apply batch: the fold's rows (and memory's) as typed frames per core table,
each row tagged with its cluster, ready to replace the touched clusters' rows.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime
from typing import Any

import orjson
import polars as pl
import pyarrow as pa

from dagster_project.apply.clusters import CONFIG_CLUSTER, Key
from dagster_project.config.registry import CONFIG_EVENT, ConfigRegistry
from dagster_project.lifecycle.fold import FoldResult
from dagster_project.lifecycle.store import CORE, polars_schema

TS = pl.Datetime("us", "UTC")
_LIST = pl.List(pl.Utf8)

# Column types of the rows the fold returns, per core table (cluster_id is added on write): from the
# tables' one declaration in lifecycle/store.py.
SCHEMAS: dict[str, dict[str, Any]] = {t.name: polars_schema(t.name) for t in CORE if t.clustered}
CLUSTERED_TABLES = tuple(SCHEMAS)
CLUSTER_KEY = ("org_id", "entity_type", "entity_id")
CONFIG_SCHEMA: dict[str, Any] = polars_schema("config_registry")


def frames_of(
    parts: dict[tuple[str, str], tuple[FoldResult, Any]],
    config_parts: dict[str, FoldResult | None],
    config_orgs: list[str],
    config_keys: frozenset[Key],
    by_key: dict[Key, dict[str, Any]],
    *,
    strict: bool = False,
) -> tuple[dict[str, pl.DataFrame] | None, pl.DataFrame | None]:
    """The core tables' frames of these clusters and orgs' config. Returns (None, None) when a row does
    not convert (unless `strict`, which raises): the caller then tests each cluster alone."""
    result = FoldResult()
    memory_rows: dict[str, list[dict[str, Any]]] = {"memory_atoms": [], "memory_audit": []}
    cluster_of_rows: dict[str, list[str]] = defaultdict(list)
    for (_org_id, cluster_id), (part, memory) in sorted(parts.items()):
        _collect(result, part, cluster_id, cluster_of_rows, skip_config=True, config_keys=config_keys)
        memory_rows["memory_atoms"].extend(memory.atoms)
        memory_rows["memory_audit"].extend(memory.audit)
        cluster_of_rows["memory_atoms"].extend([cluster_id] * len(memory.atoms))
        cluster_of_rows["memory_audit"].extend([cluster_id] * len(memory.audit))
    config_rows: list[dict[str, Any]] = []
    for org_id in config_orgs:
        config_part = config_parts.get(org_id)
        if config_part is None:
            config_rows.extend(ConfigRegistry.from_events([]).history(org_id))
            continue
        config_rows.extend(config_part.config_registry)
        # A copy without the history rows: the parts are reused if a cluster has to be tested alone.
        rest = FoldResult(**{**vars(config_part), "config_registry": []})
        _collect(result, rest, CONFIG_CLUSTER, cluster_of_rows, skip_config=False)
    try:
        return _build_frames(result, memory_rows, cluster_of_rows, by_key), (
            pl.DataFrame(config_rows, schema=CONFIG_SCHEMA, orient="row") if config_rows else None
        )
    except Exception:
        if strict:
            raise
        return None, None


_ENTITY_TABLES = {"signals": "signal_id", "candidates": "candidate_id", "pursuits": "pursuit_id"}


def _collect(
    result: FoldResult,
    part: FoldResult,
    cluster_id: str,
    cluster_of_rows: dict[str, list[str]],
    *,
    skip_config: bool,
    config_keys: frozenset[Key] = frozenset(),
) -> None:
    """Append a cluster's rows to the batch result, remembering each row's cluster."""
    tables = {
        "signals": part.signals,
        "candidates": part.candidates,
        "pursuits": part.pursuits,
        "client_parts": part.clients,
        "contact_records": part.contact_records,
        "user_records": part.user_records,
        "identity_decisions": part.identity_decisions,
        "transitions": part.transitions,
        "rejected_events": [
            r for r in part.rejected_events if not (skip_config and r["event_name"] == CONFIG_EVENT)
        ],
    }
    for table, rows in tables.items():
        target = result.clients if table == "client_parts" else getattr(result, table)
        target.extend(rows)
        cluster_of_rows[table].extend([cluster_id] * len(rows))
    for key, outcome in part.outcomes.items():
        if skip_config and key in config_keys:
            continue
        result.outcomes[key] = outcome
        cluster_of_rows["event_outcomes"].append(cluster_id)


def _frame(rows: list[dict[str, Any]], schema: dict[str, Any], clusters: list[str]) -> pl.DataFrame:
    json_columns = [name for name in schema if name.endswith("_checklist")]
    if json_columns or "due_date" in schema:
        for row in rows:
            for name in json_columns:
                value = row.get(name)
                if value is not None and not isinstance(value, str):
                    row[name] = orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
            if (
                "due_date" in schema
                and row.get("due_date") is not None
                and not isinstance(row["due_date"], date)
            ):
                row["due_date"] = None  # a due_date Python could not read: kept in the event log, not here
    frame = _typed(rows, schema) if rows else pl.DataFrame(schema=schema)
    return frame.with_columns(pl.Series("cluster_id", clusters, dtype=pl.Utf8))


def _typed(rows: list[dict[str, Any]], schema: dict[str, Any]) -> pl.DataFrame:
    """The rows as a frame of `schema`, exactly as `pl.from_dicts(rows, schema=schema)` builds it.

    Arrow converts the list of dicts to a struct array in C, a key looked up per field (a missing key
    is null, as `dict.get` gives); polars' `from_dicts` makes a Python Series for every list value, and
    even splitting the rows into columns in Python was the larger part of the apply's frame building.
    Arrow is stricter than polars (it refuses an int in a text column where polars writes its text), so
    any value Arrow refuses goes through polars and gets polars' result or error. The two values Arrow
    takes but polars reads otherwise (a string in a list column, a datetime in a date column) go through
    polars up front: only those columns are looked at in Python.
    """
    for name, dtype in schema.items():
        if isinstance(dtype, pl.List) and any(isinstance(row.get(name), str) for row in rows):
            return pl.from_dicts(rows, schema=schema)
        if dtype == pl.Date and any(isinstance(row.get(name), datetime) for row in rows):
            return pl.from_dicts(rows, schema=schema)
    arrow_schema = _arrow_schema(schema)
    try:
        array = pa.array(rows, type=pa.struct(arrow_schema))
    except (pa.ArrowException, OverflowError, TypeError, ValueError):
        return pl.from_dicts(rows, schema=schema)
    return pl.from_arrow(pa.Table.from_batches([pa.RecordBatch.from_struct_array(array)]))


def _arrow_schema(schema: dict[str, Any]) -> pa.Schema:
    return pl.DataFrame(schema=schema).to_arrow().schema


def _build_frames(
    result: FoldResult,
    memory_rows: dict[str, list[dict[str, Any]]],
    cluster_of_rows: dict[str, list[str]],
    by_key: dict[Key, dict[str, Any]],
) -> dict[str, pl.DataFrame]:
    """Each core table's new rows as a typed frame (raises when a row does not fit its column types)."""
    outcome_rows = [
        {
            **{
                k: by_key[key][k]
                for k in ("org_id", "event_id", "event_name", "entity_type", "entity_id", "occurred_at")
            },
            "outcome": outcome,
        }
        for key, outcome in result.outcomes.items()
    ]
    frames = {
        "signals": (result.signals, cluster_of_rows["signals"]),
        "candidates": (result.candidates, cluster_of_rows["candidates"]),
        "pursuits": (result.pursuits, cluster_of_rows["pursuits"]),
        "client_parts": (result.clients, cluster_of_rows["client_parts"]),
        "contact_records": (result.contact_records, cluster_of_rows["contact_records"]),
        "user_records": (result.user_records, cluster_of_rows["user_records"]),
        "identity_decisions": (result.identity_decisions, cluster_of_rows["identity_decisions"]),
        "transitions": (result.transitions, cluster_of_rows["transitions"]),
        "rejected_events": (result.rejected_events, cluster_of_rows["rejected_events"]),
        "event_outcomes": (outcome_rows, cluster_of_rows["event_outcomes"]),
        "memory_atoms": (memory_rows["memory_atoms"], cluster_of_rows["memory_atoms"]),
        "memory_audit": (memory_rows["memory_audit"], cluster_of_rows["memory_audit"]),
    }
    return {
        table: _frame(rows, SCHEMAS[table], clusters) for table, (rows, clusters) in frames.items() if rows
    }
