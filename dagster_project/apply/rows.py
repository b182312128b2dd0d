"""The write-back side of an apply batch: the fold's rows (and memory's) as typed frames per core table,
each row tagged with its cluster, ready to replace the touched clusters' rows.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from typing import Any

import orjson
import polars as pl

from dagster_project.apply.clusters import CONFIG_CLUSTER, Key
from dagster_project.config.registry import CONFIG_EVENT, ConfigRegistry
from dagster_project.lifecycle.fold import FoldResult

TS = pl.Datetime("us", "UTC")
_LIST = pl.List(pl.Utf8)

# Column types of the rows the fold returns, per core table (cluster_id is added on write).
SCHEMAS: dict[str, dict[str, Any]] = {
    "signals": {
        "org_id": pl.Utf8,
        "signal_id": pl.Utf8,
        "status": pl.Utf8,
        "owner": pl.Utf8,
        "source_type": pl.Utf8,
        "created_at": TS,
        "first_touched_at": TS,
        "dismissed_at": TS,
        "linked_at": TS,
        "linked_candidate_id": pl.Utf8,
        "linked_candidate_ids": _LIST,
        "entered_state_at": TS,
        "last_event_at": TS,
    },
    "candidates": {
        "org_id": pl.Utf8,
        "candidate_id": pl.Utf8,
        "status": pl.Utf8,
        "owner": pl.Utf8,
        "title": pl.Utf8,
        "client_id": pl.Utf8,
        "value_band": pl.Utf8,
        "tags": _LIST,
        "signal_ids": _LIST,
        "pursuit_id": pl.Utf8,
        "entered_state_at": TS,
        "created_at": TS,
        "last_event_at": TS,
    },
    "pursuits": {
        "org_id": pl.Utf8,
        "pursuit_id": pl.Utf8,
        "candidate_id": pl.Utf8,
        "stage": pl.Utf8,
        "owner": pl.Utf8,
        "capture_lead": pl.Utf8,
        "client_id": pl.Utf8,
        "due_date": pl.Date,
        "forecast_value_usd": pl.Float64,
        "compliance_score": pl.Float64,
        "pink_checklist": pl.Utf8,
        "pink_missing": _LIST,
        "pink_completion_pct": pl.Float64,
        "red_checklist": pl.Utf8,
        "red_missing": _LIST,
        "red_completion_pct": pl.Float64,
        "proposals_sent": pl.Int32,
        "first_proposal_sent_at": TS,
        "latest_proposal_id": pl.Utf8,
        "latest_proposal_version": pl.Int32,
        "outcome": pl.Utf8,
        "reason_code": pl.Utf8,
        "reason": pl.Utf8,
        "missing_reason": pl.Boolean,
        "entered_state_at": TS,
        "created_at": TS,
        "closed_at": TS,
        "last_event_at": TS,
    },
    "client_parts": {
        "org_id": pl.Utf8,
        "client_id": pl.Utf8,
        "name": pl.Utf8,
        "domain": pl.Utf8,
        "industry": pl.Utf8,
        "created_at": TS,
        "last_event_at": TS,
    },
    "transitions": {
        "org_id": pl.Utf8,
        "entity_type": pl.Utf8,
        "entity_id": pl.Utf8,
        "from_state": pl.Utf8,
        "to_state": pl.Utf8,
        "occurred_at": TS,
        "event_id": pl.Utf8,
        "warned": pl.Boolean,
    },
    "rejected_events": {
        "org_id": pl.Utf8,
        "event_id": pl.Utf8,
        "event_name": pl.Utf8,
        "entity_type": pl.Utf8,
        "entity_id": pl.Utf8,
        "occurred_at": TS,
        "rule": pl.Utf8,
        "detail": pl.Utf8,
        "outcome": pl.Utf8,
    },
    "event_outcomes": {
        "org_id": pl.Utf8,
        "event_id": pl.Utf8,
        "event_name": pl.Utf8,
        "entity_type": pl.Utf8,
        "entity_id": pl.Utf8,
        "occurred_at": TS,
        "outcome": pl.Utf8,
    },
}
SCHEMAS["memory_atoms"] = {
    "org_id": pl.Utf8,
    "atom_id": pl.Utf8,
    "entity_type": pl.Utf8,
    "entity_id": pl.Utf8,
    "client_id": pl.Utf8,
    "atom_type": pl.Utf8,
    "content": pl.Utf8,
    "source": pl.Utf8,
    "source_system": pl.Utf8,
    "source_url": pl.Utf8,
    "trust_weight": pl.Float64,
    "tags": _LIST,
    "rule": pl.Utf8,
    "classified_by": pl.Utf8,
    "actor": pl.Utf8,
    "occurred_at": TS,
    "expires_at": TS,
    "expires_explicit": pl.Boolean,
    "content_hash": pl.Utf8,
    "version": pl.Int32,
    "event_id": pl.Utf8,
    "corrected_at": TS,
    "last_audit_id": pl.Utf8,
}
SCHEMAS["memory_audit"] = {
    "org_id": pl.Utf8,
    "audit_id": pl.Utf8,
    "action": pl.Utf8,
    "atom_id": pl.Utf8,
    "entity_type": pl.Utf8,
    "entity_id": pl.Utf8,
    "actor": pl.Utf8,
    "occurred_at": TS,
    "reason": pl.Utf8,
    "content_hash": pl.Utf8,
    "old_content_hash": pl.Utf8,
    "new_content_hash": pl.Utf8,
    "version": pl.Int32,
}
CLUSTERED_TABLES = tuple(SCHEMAS)
CLUSTER_KEY = ("org_id", "entity_type", "entity_id")
CONFIG_SCHEMA: dict[str, Any] = {
    "org_id": pl.Utf8,
    "key": pl.Utf8,
    "value": pl.Utf8,
    "effective_from": TS,
    "effective_to": TS,
    "event_id": pl.Utf8,
    "source": pl.Utf8,
}


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
    frame = pl.from_dicts(rows, schema=schema) if rows else pl.DataFrame(schema=schema)
    return frame.with_columns(pl.Series("cluster_id", clusters, dtype=pl.Utf8))


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
        "transitions": (result.transitions, cluster_of_rows["transitions"]),
        "rejected_events": (result.rejected_events, cluster_of_rows["rejected_events"]),
        "event_outcomes": (outcome_rows, cluster_of_rows["event_outcomes"]),
        "memory_atoms": (memory_rows["memory_atoms"], cluster_of_rows["memory_atoms"]),
        "memory_audit": (memory_rows["memory_audit"], cluster_of_rows["memory_audit"]),
    }
    return {
        table: _frame(rows, SCHEMAS[table], clusters) for table, (rows, clusters) in frames.items() if rows
    }
