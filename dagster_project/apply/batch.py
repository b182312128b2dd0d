"""Apply accepted events to the core tables: re-fold exactly the entity clusters new events touch.

Why clusters: the fold is pure and deterministic, but folding a whole org on every run would grow with
history. Entities only influence each other through links that events name (a candidate links signals
and is promoted to a pursuit; a pursuit id claimed twice joins both candidates), so those links split an
org into independent clusters. A batch of events re-folds only their clusters (all of each cluster's
events, in event-time order, with the org's config events), so late events re-judge what follows them,
and the result equals a full fold. A `config.changed` event touches every cluster of its org.

Clients are left out of the links (a client would join all its candidates into one ever-growing
cluster): each cluster contributes a `client_parts` row per client it references and the `clients` mart
aggregates them.

The write for a batch is one DuckDB transaction that replaces the rows of the touched clusters, so an
interrupted apply keeps the previous rows and a rerun writes the same new ones (idempotent effect; the
outbox's fencing then only decides which claim gets to mark the items processed).

Poison isolation: whatever one cluster's events do to the apply (an event whose time or payload Python
cannot load, a fold or capture that raises, rows that do not fit the core tables' types), that cluster
is skipped (rows, cluster map and all) and reported with its events, and the rest of the batch commits.
An org whose config events cannot be loaded or folded is skipped the same way, config and clusters.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import duckdb
import polars as pl

from dagster_project.apply import fast
from dagster_project.apply.clusters import (
    CONFIG_CLUSTER,
    Key,
    components,
    earliest_event,
    load_events,
    touched_links,
)
from dagster_project.apply.rows import CLUSTER_KEY, CONFIG_SCHEMA, SCHEMAS, TS, frames_of
from dagster_project.config.registry import CONFIG_EVENT, ConfigRegistry
from dagster_project.lifecycle.fold import FoldResult, fold
from dagster_project.lifecycle.store import ensure_core_schema
from dagster_project.memory.capture import capture_atoms, classify_notes
from dagster_project.warehouse.store import read_run_clock, write_run_clock

FaultHook = Callable[[str, str, list[dict[str, Any]]], None]  # (org_id, cluster_id, events)


@dataclass
class BatchReport:
    """What one apply batch did. `failed` maps (org, cluster) to the error that made the apply skip it;
    `failed_keys` maps each event of a skipped cluster to that error, `failed_cluster` to that cluster."""

    events_in: int = 0
    clusters: int = 0
    events_folded: int = 0
    events_set_based: int = 0  # of `events_folded`, those the fast path folded in DuckDB
    orgs_refolded: list[str] = field(default_factory=list)
    failed: dict[tuple[str, str], str] = field(default_factory=dict)
    failed_keys: dict[Key, str] = field(default_factory=dict)
    failed_cluster: dict[Key, tuple[str, str]] = field(default_factory=dict)

    def fail(self, org_id: str, cluster_id: str, error: str, event_ids: Iterable[str]) -> None:
        """Skip a cluster: remember its error (the first one) and every event it holds."""
        error = self.failed.setdefault((org_id, cluster_id), error)
        for event_id in event_ids:
            self.failed_keys[(org_id, event_id)] = error
            self.failed_cluster[(org_id, event_id)] = (org_id, cluster_id)


def _error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def last_as_of(con: duckdb.DuckDBPyConnection) -> datetime | None:
    clock = read_run_clock(con)
    return clock[0] if clock else None


def apply_batch(
    con: duckdb.DuckDBPyConnection,
    keys: Sequence[Key],
    *,
    as_of: datetime,
    now: datetime,
    dead: Iterable[Key] = (),
    fault: FaultHook | None = None,
    keys_between: tuple[datetime, datetime] | None = None,
) -> BatchReport:
    """Re-fold the clusters that `keys` (accepted events) and a moved as-of touch; write in one transaction.

    `dead` events (dead letters) are left out of every fold. Events after `as_of` are not applied yet:
    they are picked up by the run whose as-of passes them. `keys_between` (the claimed items' earliest
    and latest `occurred_at`) only lets DuckDB skip the log's older row groups; if it misses a key, the
    lookup is repeated without it.
    """
    ensure_core_schema(con)
    report = BatchReport()
    previous = last_as_of(con)
    _register(
        con,
        "apply_keys",
        pl.DataFrame(list(keys), schema={"org_id": pl.Utf8, "event_id": pl.Utf8}, orient="row"),
    )
    _register(
        con,
        "apply_dead",
        pl.DataFrame(list(dead), schema={"org_id": pl.Utf8, "event_id": pl.Utf8}, orient="row"),
    )
    # The claimed events, plus (when the as-of moved) every event between the old and the new as-of.
    # Semi joins and a union, not `exists (…) or …`: DuckDB runs that as a correlated join over the
    # whole log (≈ 4 s at 5M events against 0.6 s).
    columns = """e.event_id, e.org_id, e.event_name, e.entity_type, e.entity_id,
                 json_extract_string(e.payload, '$.signal_ids[*]') as signal_ids,
                 json_extract_string(e.payload, '$.pursuit_id') as pursuit_id,
                 epoch_us(e.occurred_at) as occurred_us,
                 e.occurred_at <= $as_of or e.event_name = 'memory.redacted' as due"""
    keyed_sql = f"""select {columns}
        from raw.events e semi join apply_keys k on k.org_id = e.org_id and k.event_id = e.event_id"""
    keyed = pl.DataFrame(schema=_TOUCHED)
    if keys_between is not None:
        keyed = _frame(
            con,
            f"{keyed_sql} where e.occurred_at between $first and $last",
            {"as_of": as_of, "first": keys_between[0], "last": keys_between[1]},
        )
    if keyed.height < len(set(keys)):  # no hint, or a key outside it
        keyed = _frame(con, keyed_sql, {"as_of": as_of})
    touched = keyed.filter(pl.col("due"))
    if previous is not None and previous != as_of:
        moved = _frame(
            con,
            f"select {columns} from raw.events e where e.occurred_at > $lo and e.occurred_at <= $hi",
            {"as_of": as_of, "lo": min(previous, as_of), "hi": max(previous, as_of)},
        )
        touched = pl.concat([touched, moved.join(touched, on=["org_id", "event_id"], how="anti")])
    report.events_in = touched.height

    # Union the touched entities with their links and with the clusters they already belong to.
    refold_orgs = set(touched.filter(pl.col("event_name") == CONFIG_EVENT)["org_id"].to_list())
    touched_nodes, links = touched_links(touched, CONFIG_EVENT)
    _register(con, "apply_nodes", touched_nodes)
    orgs_in = sorted(set(touched_nodes["org_id"].to_list()) | refold_orgs)
    _register(con, "apply_orgs", pl.DataFrame({"org_id": orgs_in}, schema={"org_id": pl.Utf8}))
    old_clusters = con.execute(
        """select distinct c.org_id, c.cluster_id from core.entity_clusters c
           join apply_nodes n using (org_id, entity_type, entity_id)"""
    ).fetchall()
    if refold_orgs:  # a config change re-judges every cluster of its org
        old_clusters += con.execute(
            "select distinct org_id, cluster_id from core.entity_clusters where list_contains($orgs, org_id)",
            {"orgs": sorted(refold_orgs)},
        ).fetchall()
    _register(
        con,
        "apply_old_clusters",
        pl.DataFrame(
            sorted(set(old_clusters)), schema={"org_id": pl.Utf8, "cluster_id": pl.Utf8}, orient="row"
        ),
    )
    members = _frame(
        con,
        """select c.org_id, c.entity_type, c.entity_id, c.cluster_id, c.first_event_at
           from core.entity_clusters c join apply_old_clusters o using (org_id, cluster_id)""",
        {},
    )
    since = earliest_event(touched, members)

    # Components → new cluster names; remember which old clusters each one absorbs.
    found = components(touched_nodes, links, members)
    absorbed, map_frame = found.absorbed, found.map_frame
    _register(con, "apply_map", map_frame)
    report.clusters = len(absorbed)

    config_events, broken_config = load_events(
        con,
        """select 'org-config' as cluster_id, e.org_id, e.event_id, e.occurred_at, e.event_name,
                  e.entity_type, e.entity_id, e.actor, e.payload
           from raw.events e join apply_orgs o using (org_id)
                anti join apply_dead d on d.org_id = e.org_id and d.event_id = e.event_id
           where e.event_name = 'config.changed' and e.occurred_at <= $as_of""",
        as_of,
    )
    config_by_org: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for _, event in config_events:
        config_by_org[event["org_id"]].append(event)
    # A config event that cannot be loaded fails alone: its org folds without it, as it will once it is
    # dead-lettered (a retry re-folds the whole org).
    for org_id, _cluster, event_id, error in broken_config:
        report.fail(org_id, CONFIG_CLUSTER, error, [event_id])

    config_keys = frozenset((e["org_id"], e["event_id"]) for _, e in config_events)
    # Each org's config: its registry (read by every cluster) and its own fold (history, outcomes and
    # rejections of its config events). An org whose config breaks keeps its previous rows, all of them.
    registries: dict[str, ConfigRegistry] = {}
    config_parts: dict[str, FoldResult | None] = {}
    for org_id in orgs_in:
        org_config = config_by_org[org_id]
        try:
            if fault is not None:
                fault(org_id, CONFIG_CLUSTER, org_config)
            registries[org_id] = ConfigRegistry.from_events(org_config)
            config_parts[org_id] = fold(org_config, as_of=as_of) if org_config else None
        except Exception as exc:
            report.failed.pop((org_id, CONFIG_CLUSTER), None)  # this error, not a load error, names it
            report.fail(org_id, CONFIG_CLUSTER, _error(exc), [e["event_id"] for e in org_config])
            registries.pop(org_id, None)

    # Every event of these clusters is at or after `since` (see `earliest_event`): DuckDB skips the
    # log's row groups that end before it. The clusters the fast path takes are folded in DuckDB
    # (`fast.py`); the others are loaded into Python. A fault hook wants every cluster in Python.
    con.execute(
        f"""create or replace temp table apply_events as
           select m.cluster_id, e.org_id, e.event_id, e.occurred_at, e.event_name, e.entity_type,
                  e.entity_id, e.actor, e.payload
           from raw.events e join apply_map m using (org_id, entity_type, entity_id)
                anti join apply_dead d on d.org_id = e.org_id and d.event_id = e.event_id
           where (e.occurred_at <= $as_of or e.event_name in ('memory.redacted', 'memory.corrected'))
                 {"and e.occurred_at >= $since" if since is not None else ""}""",
        {"as_of": as_of} | ({"since": since} if since is not None else {}),
    )
    fast_clusters = fast.select_fast(con, registries if fault is None else {}, as_of)
    events, broken = load_events(
        con,
        """select e.cluster_id, e.org_id, e.event_id, e.occurred_at, e.event_name, e.entity_type,
                  e.entity_id, e.actor, e.payload
           from apply_events e anti join apply_fast_clusters f using (org_id, cluster_id)""",
        as_of,
    )
    first_event: dict[tuple[str, str, str], datetime] = fast.first_events(con)
    for _, e in events:
        entity = (e["org_id"], e["entity_type"], e["entity_id"])
        if entity not in first_event or e["occurred_at"] < first_event[entity]:
            first_event[entity] = e["occurred_at"]
    map_frame = map_frame.with_columns(
        pl.Series(
            "first_event_at",
            [first_event.get(entity) for entity in map_frame.select(CLUSTER_KEY).iter_rows()],
            dtype=TS,
        )
    )
    _register(con, "apply_map", map_frame)
    by_cluster: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for cluster_id, event in events:
        by_cluster[(event["org_id"], cluster_id)].append(event)
    # Events Python could not load fail their cluster.
    for org_id, cluster_id, event_id, error in broken:
        report.fail(org_id, cluster_id, error, [event_id])

    # Each org's notes classified at once; a note left out (this failed) is classified in its cluster.
    note_types: dict[str, dict[str, tuple[str, str | None]]] = {}
    for org_id, registry in registries.items():
        try:
            org_events = (e for (o, _), cluster in by_cluster.items() if o == org_id for e in cluster)
            note_types[org_id] = classify_notes(org_events, org_id, registry, as_of)
        except Exception:  # the per-cluster capture classifies again and isolates the fault
            note_types[org_id] = {}

    parts: dict[tuple[str, str], tuple[FoldResult, Any]] = {}
    skip = set(fast_clusters)
    for org_id, cluster_id in sorted(absorbed):
        if (org_id, cluster_id) in skip:
            continue
        cluster_events = by_cluster.get((org_id, cluster_id), [])
        try:
            if (org_id, cluster_id) in report.failed:
                raise _Skipped(report.failed[(org_id, cluster_id)])
            if org_id not in registries:
                raise _Skipped(f"the config of {org_id} failed: {report.failed[(org_id, CONFIG_CLUSTER)]}")
            if fault is not None:
                fault(org_id, cluster_id, cluster_events)
            # The org's config comes in as a registry built once (its events are judged in the config fold).
            part = fold(cluster_events, as_of=as_of, config_history=False, registry=registries[org_id])
            memory = capture_atoms(
                cluster_events, part, registries[org_id], as_of, note_types=note_types[org_id]
            )
        except Exception as exc:  # a poison cluster: report it, keep going with the others
            error = str(exc) if isinstance(exc, _Skipped) else _error(exc)
            report.fail(org_id, cluster_id, error, [e["event_id"] for e in cluster_events])
            continue
        parts[(org_id, cluster_id)] = (part, memory)

    config_events_by_key = {(e["org_id"], e["event_id"]): e for _, e in config_events}
    by_key = {(e["org_id"], e["event_id"]): e for _, e in events} | config_events_by_key
    good_orgs = [org for org in orgs_in if org in registries]
    frames, config_rows = frames_of(parts, config_parts, good_orgs, config_keys, by_key)
    if frames is None:
        # Some cluster's rows do not fit the core tables: find it alone, keep the others.
        for (org_id, cluster_id), part in list(parts.items()):
            try:
                frames_of({(org_id, cluster_id): part}, {}, [], config_keys, by_key, strict=True)
            except Exception as exc:
                report.fail(
                    org_id, cluster_id, _error(exc), [e["event_id"] for e in by_cluster[(org_id, cluster_id)]]
                )
                del parts[(org_id, cluster_id)]
        for org_id in list(good_orgs):
            try:
                frames_of({}, config_parts, [org_id], config_keys, by_key, strict=True)
            except Exception as exc:  # the org keeps its previous config and clusters, as above
                error = _error(exc)
                report.failed.pop((org_id, CONFIG_CLUSTER), None)
                report.fail(org_id, CONFIG_CLUSTER, error, [e["event_id"] for e in config_by_org[org_id]])
                good_orgs.remove(org_id)
                for key in [key for key in parts if key[0] == org_id]:
                    skipped = f"the config of {org_id} failed: {error}"
                    report.fail(*key, skipped, [e["event_id"] for e in by_cluster[key]])
                    del parts[key]
        frames, config_rows = frames_of(parts, config_parts, good_orgs, config_keys, by_key, strict=True)

    done = sorted([*parts, *fast_clusters])
    report.events_set_based = fast.fast_event_count(con)
    report.events_folded = sum(len(by_cluster.get(key, [])) for key in parts) + report.events_set_based
    report.orgs_refolded = sorted(refold_orgs)
    _write(
        con,
        frames,
        done=done,
        absorbed=absorbed,
        map_frame=map_frame,
        config_rows=config_rows,
        config_orgs=good_orgs,
        as_of=as_of,
        now=now,
    )
    return report


# The touched events' columns, as `apply_batch` selects them.
_TOUCHED = {
    "event_id": pl.Utf8,
    "org_id": pl.Utf8,
    "event_name": pl.Utf8,
    "entity_type": pl.Utf8,
    "entity_id": pl.Utf8,
    "signal_ids": pl.List(pl.Utf8),
    "pursuit_id": pl.Utf8,
    "occurred_us": pl.Int64,
    "due": pl.Boolean,
}


def _frame(con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any]) -> pl.DataFrame:
    """A query's rows as a polars frame (Arrow underneath: no Python object per value)."""
    return con.execute(sql, params).pl()


class _Skipped(Exception):
    """A cluster left out because something it depends on already failed (the message says what)."""


def _register(con: duckdb.DuckDBPyConnection, name: str, frame: pl.DataFrame) -> None:
    """Expose a frame to SQL under `name` (replacing an earlier frame of that name)."""
    con.register(name, frame.to_arrow())


def _write(
    con: duckdb.DuckDBPyConnection,
    frames: dict[str, pl.DataFrame],
    *,
    done: list[tuple[str, str]],
    absorbed: dict[tuple[str, str], list[str]],
    map_frame: pl.DataFrame,
    config_rows: pl.DataFrame | None,
    config_orgs: list[str],
    as_of: datetime,
    now: datetime,
) -> None:
    """Replace the rows of every folded cluster (and the clusters it absorbed) in one transaction."""
    replaced = sorted({(org, c) for org, name in done for c in [name, *absorbed[(org, name)]]})
    replaced += [(org, CONFIG_CLUSTER) for org in config_orgs]
    _register(
        con,
        "apply_replaced",
        pl.DataFrame(replaced, schema={"org_id": pl.Utf8, "cluster_id": pl.Utf8}, orient="row"),
    )
    done_frame = pl.DataFrame(done, schema={"org_id": pl.Utf8, "cluster_id": pl.Utf8}, orient="row")
    _register(con, "apply_done", done_frame)
    con.execute("begin transaction")
    try:
        for table in SCHEMAS:
            con.execute(
                f"delete from core.{table} t using apply_replaced r "
                "where t.org_id = r.org_id and t.cluster_id = r.cluster_id"
            )
            if table in frames:
                _register(con, "apply_rows", frames[table])
                columns = ", ".join([*SCHEMAS[table], "cluster_id"])
                con.execute(f"insert into core.{table} ({columns}) select {columns} from apply_rows")
            fast.insert_rows(con, table, [*SCHEMAS[table], "cluster_id"])
        con.execute(
            "delete from core.entity_clusters t using apply_replaced r "
            "where t.org_id = r.org_id and t.cluster_id = r.cluster_id"
        )
        con.execute(
            "insert into core.entity_clusters (org_id, entity_type, entity_id, cluster_id, first_event_at) "
            "select m.org_id, m.entity_type, m.entity_id, m.cluster_id, m.first_event_at "
            "from apply_map m join apply_done d using (org_id, cluster_id)"
        )
        _register(con, "apply_orgs_done", pl.DataFrame({"org_id": config_orgs}, schema={"org_id": pl.Utf8}))
        con.execute("delete from core.config_registry where org_id in (select org_id from apply_orgs_done)")
        if config_rows is not None:
            _register(con, "apply_config", config_rows)
            con.execute(
                f"insert into core.config_registry select {', '.join(CONFIG_SCHEMA)} from apply_config"
            )
        # Incremental dbt models rebuild what changed: record every replaced cluster (absorbed and
        # emptied ones too, so their old rows leave the marts) under this write's number.
        con.execute(
            "insert into core.cluster_changes select org_id, cluster_id, "
            "(select coalesce(max(seq), 0) + 1 from core.cluster_changes) from apply_replaced"
        )
        write_run_clock(con, as_of, now)
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
