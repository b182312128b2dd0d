"""The read side of an apply batch: the clusters its events touch, and those clusters' events.

Entities only influence each other through links that events name, so the links split an org into
independent clusters (`batch` explains why). Here: the links an event names (`links_of`), the
union-find `batch` joins touched entities with (their links, the clusters they already belong to), a
cluster's name, a bound on the events a re-fold needs (`earliest_event`), and the events read from the
log as Python values, those Python cannot load set apart with the reason (`load_events`).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb
import orjson

Key = tuple[str, str]  # (org_id, event_id)
Node = tuple[str, str]  # (entity_type, entity_id)

CONFIG_CLUSTER = "org-config"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def time_of_us(micros: int | None) -> datetime | None:
    """Epoch microseconds as a UTC datetime, or None when Python's datetime cannot hold the instant."""
    if micros is None:
        return None
    try:
        return _EPOCH + timedelta(microseconds=micros)
    except OverflowError:
        return None


def links_of(event_name: str, entity_type: str, entity_id: str, payload: dict[str, Any]) -> list[Node]:
    """The entities an event ties to its own one (its cluster edges)."""
    nodes: list[Node] = [(entity_type, entity_id)]
    if event_name in ("candidate.created", "candidate.updated"):
        nodes.extend(("signal", str(s)) for s in payload.get("signal_ids") or () if s is not None)
    elif event_name == "candidate.promoted" and payload.get("pursuit_id") is not None:
        nodes.append(("pursuit", str(payload["pursuit_id"])))
    return nodes


class UnionFind:
    def __init__(self) -> None:
        self.parent: dict[Any, Any] = {}

    def find(self, x: Any) -> Any:
        parent = self.parent.setdefault(x, x)
        while parent != x:
            grand = self.parent.setdefault(parent, parent)
            self.parent[x] = grand
            x, parent = parent, grand
        return x

    def union(self, a: Any, b: Any) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def cluster_name(nodes: Iterable[Node]) -> str:
    """A cluster is named after its smallest member, so the name depends only on the membership."""
    entity_type, entity_id = min(nodes)
    return f"{entity_type}:{entity_id}"


def earliest_event(touched: list[tuple], members: list[tuple]) -> datetime | None:
    """A time no event of the clusters being re-folded is before, or None when it is not known.

    `core.entity_clusters.first_event_at` is each entity's earliest event in its last fold (None: no
    event, or a row from before the column existed). An event of a re-folded cluster is either one of
    those, or touched now (claimed, or crossed by a moved as-of), or still waiting in the outbox: that
    one's own batch re-folds the cluster with it. So the minimum over the members and the touched events
    bounds every event this fold needs.
    """
    times = []
    for row in touched:
        at = time_of_us(row[7])
        if at is None:  # before (or after) what Python holds: no bound, the lookup reads every row group
            return None
        times.append(at)
    for *_, first in members:
        if first is None:
            return None
        times.append(first)
    return min(times) if times else None


def load_events(
    con: duckdb.DuckDBPyConnection, sql: str, as_of: datetime, since: datetime | None = None
) -> tuple[list[tuple[str, dict[str, Any]]], list[tuple[str, str, str, str]]]:
    """The events (cluster, event), and the ones Python cannot load as (org, cluster, event_id, error):
    a time outside datetime's range, a payload past orjson's nesting limit."""
    # Times come as epoch microseconds and become stdlib-UTC datetimes: exact, and far cheaper than the
    # driver's zone-aware objects.
    params: dict[str, Any] = {"as_of": as_of} | ({"since": since} if since is not None else {})
    params = {name: value for name, value in params.items() if f"${name}" in sql}  # DuckDB refuses extras
    rows = con.execute(sql.replace("e.occurred_at,", "epoch_us(e.occurred_at),", 1), params).fetchall()
    out: list[tuple[str, dict[str, Any]]] = []
    broken: list[tuple[str, str, str, str]] = []
    for cluster_id, org_id, event_id, occurred_us, name, entity_type, entity_id, actor, payload in rows:
        try:
            occurred_at = _EPOCH + timedelta(microseconds=occurred_us)
        except OverflowError:
            broken.append((org_id, cluster_id, event_id, "occurred_at outside the supported time range"))
            continue
        try:
            loaded = orjson.loads(payload) if payload else {}
        except orjson.JSONDecodeError as exc:
            broken.append((org_id, cluster_id, event_id, f"payload could not be loaded: {exc}"))
            continue
        out.append(
            (
                cluster_id,
                {
                    "org_id": org_id,
                    "event_id": event_id,
                    "occurred_at": occurred_at,
                    "event_name": name,
                    "entity_type": entity_type,
                    "entity_id": entity_id,
                    "actor": actor,
                    "payload": loaded,
                },
            )
        )
    return out, broken
