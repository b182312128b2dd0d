"""The read side of an apply batch: the clusters its events touch, and those clusters' events.

Entities only influence each other through links that events name, so the links split an org into
independent clusters (`batch` explains why). Here: the links a batch's events name (`touched_links`),
the connected components they form with the clusters their entities already belong to and the new
clusters' names (`components`, set-based in polars: no Python per event), a bound on the events a
re-fold needs (`earliest_event`), and the events read from the log as Python values, those Python
cannot load set apart with the reason (`load_events`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb
import orjson
import polars as pl

Key = tuple[str, str]  # (org_id, event_id)

CONFIG_CLUSTER = "org-config"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# The epoch microseconds Python's datetime can hold.
_MIN_US = (datetime.min.replace(tzinfo=UTC) - _EPOCH) // timedelta(microseconds=1)
_MAX_US = (datetime.max.replace(tzinfo=UTC) - _EPOCH) // timedelta(microseconds=1)
_NODE = {"org_id": pl.Utf8, "entity_type": pl.Utf8, "entity_id": pl.Utf8}
_CLUSTER = "\x00cluster"  # the node type of an old cluster in `components`


def time_of_us(micros: int | None) -> datetime | None:
    """Epoch microseconds as a UTC datetime, or None when Python's datetime cannot hold the instant."""
    if micros is None:
        return None
    try:
        return _EPOCH + timedelta(microseconds=micros)
    except OverflowError:
        return None


@dataclass
class Components:
    """The clusters a batch re-folds: `absorbed` maps each (org, new cluster name) to the old clusters it
    takes over; `map_frame` has one row (org_id, entity_type, entity_id, cluster_id) per member entity."""

    absorbed: dict[tuple[str, str], list[str]]
    map_frame: pl.DataFrame


def touched_links(touched: pl.DataFrame, config_event: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """`(nodes, edges)` of a batch's touched events: every entity they name, and each link as
    (org_id, entity_type, entity_id, to_type, to_id). An event names its own entity; a candidate's
    `created`/`updated` its `signal_ids`, its `promoted` its `pursuit_id`. Config events name none."""
    events = touched.filter(pl.col("event_name") != config_event)
    own = events.select("org_id", "entity_type", "entity_id")
    signals = (
        events.filter(pl.col("event_name").is_in(["candidate.created", "candidate.updated"]))
        .select("org_id", "entity_type", "entity_id", pl.col("signal_ids").alias("to_id"))
        .explode("to_id")
        .filter(pl.col("to_id").is_not_null())
        .with_columns(to_type=pl.lit("signal"))
    )
    pursuits = (
        events.filter((pl.col("event_name") == "candidate.promoted") & pl.col("pursuit_id").is_not_null())
        .select("org_id", "entity_type", "entity_id", pl.col("pursuit_id").alias("to_id"))
        .with_columns(to_type=pl.lit("pursuit"))
    )
    columns = ["org_id", "entity_type", "entity_id", "to_type", "to_id"]
    edges = pl.concat([signals.select(columns), pursuits.select(columns)]).unique()
    linked = edges.select(
        "org_id", pl.col("to_type").alias("entity_type"), pl.col("to_id").alias("entity_id")
    )
    nodes = pl.concat([own, linked]).unique()
    return nodes, edges


def components(nodes: pl.DataFrame, edges: pl.DataFrame, members: pl.DataFrame) -> Components:
    """Connected components of the touched entities, their links and the old clusters they belong to.

    `members` (org_id, entity_type, entity_id, cluster_id) are the old clusters' entities: an old
    cluster is one node, so whatever joins one of its entities takes the whole cluster along. Labels
    spread over the edges by minimum (with pointer jumping) until every edge joins equal labels. A
    cluster is named `<entity_type>:<entity_id>` after its smallest member, so the name depends only
    on the membership, whatever way the components are found.
    """
    member_nodes = members.select(*_NODE)
    cluster_nodes = members.select(
        "org_id", pl.lit(_CLUSTER).alias("entity_type"), pl.col("cluster_id").alias("entity_id")
    )
    every = (
        pl.concat([nodes.select(*_NODE), member_nodes, cluster_nodes])
        .unique()
        .sort(*_NODE)
        .with_row_index("node")
    )
    ends = [
        edges.select("org_id", "entity_type", "entity_id", pl.col("to_type"), pl.col("to_id")),
        members.select(*_NODE, pl.lit(_CLUSTER).alias("to_type"), pl.col("cluster_id").alias("to_id")),
    ]
    pairs = pl.concat(ends).rename({"to_type": "to_entity_type", "to_id": "to_entity_id"})
    pairs = pairs.join(every, on=list(_NODE), how="inner").join(
        every.rename({"entity_type": "to_entity_type", "entity_id": "to_entity_id", "node": "to_node"}),
        on=["org_id", "to_entity_type", "to_entity_id"],
        how="inner",
    )
    links = pl.concat(
        [
            pairs.select(pl.col("node").alias("a"), pl.col("to_node").alias("b")),
            pairs.select(pl.col("to_node").alias("a"), pl.col("node").alias("b")),
        ]
    )
    label = every.select("node", pl.col("node").alias("label"))
    while True:
        # Each node takes the smallest label among itself and its neighbours, then its label's label.
        spread = (
            links.join(label.rename({"node": "b"}), on="b")
            .group_by("a")
            .agg(pl.col("label").min().alias("near"))
            .rename({"a": "node"})
        )
        moved = label.join(spread, on="node", how="left").select(
            "node", pl.min_horizontal("label", "near").alias("label")
        )
        moved = moved.join(moved.rename({"node": "label", "label": "jump"}), on="label", how="left").select(
            "node", pl.min_horizontal("label", "jump").alias("label")
        )
        if moved.sort("node").equals(label.sort("node")):
            break
        label = moved
    tagged = every.join(label, on="node").with_columns(is_cluster=pl.col("entity_type") == _CLUSTER)
    entities = tagged.filter(~pl.col("is_cluster"))
    # The smallest (entity_type, entity_id) names the component: `every` is sorted, so the lowest node.
    names = entities.group_by("label").agg(
        pl.col("org_id").sort_by("node").first(),
        pl.format("{}:{}", pl.col("entity_type"), pl.col("entity_id"))
        .sort_by("node")
        .first()
        .alias("cluster_id"),
    )
    olds = tagged.filter(pl.col("is_cluster")).group_by("label").agg(pl.col("entity_id").alias("old"))
    named = names.join(olds, on="label", how="left")
    absorbed = {
        (org, name): list(old or ())
        for org, name, old in named.select("org_id", "cluster_id", "old").iter_rows()
    }
    map_frame = entities.join(names.select("label", "cluster_id"), on="label").select(*_NODE, "cluster_id")
    return Components(absorbed, map_frame)


def earliest_event(touched: pl.DataFrame, members: pl.DataFrame) -> datetime | None:
    """A time no event of the clusters being re-folded is before, or None when it is not known.

    `core.entity_clusters.first_event_at` is each entity's earliest event in its last fold (None: no
    event, or a row from before the column existed). An event of a re-folded cluster is either one of
    those, or touched now (claimed, or crossed by a moved as-of), or still waiting in the outbox: that
    one's own batch re-folds the cluster with it. So the minimum over the members and the touched events
    bounds every event this fold needs.
    """
    times = []
    if touched.height:
        first, last = touched["occurred_us"].min(), touched["occurred_us"].max()
        # before (or after) what Python holds: no bound, the lookup reads every row group
        if first is None or first < _MIN_US or last > _MAX_US or touched["occurred_us"].null_count():
            return None
        times.append(time_of_us(first))
    if members.height:
        if members["first_event_at"].null_count():
            return None
        times.append(members["first_event_at"].min())
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
