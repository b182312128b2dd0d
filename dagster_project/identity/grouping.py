"""Group an org's records into people or companies from the edges between them: the latest merge and
split decisions over rule and model edges (`resolve` makes them). Pure: frames in, frames out.

Where no split decision applies every edge joins its two records, so the groups are the graph's
connected components (scipy's `connected_components`) and a record's best edge is the best edge it has,
both worked out on frames: an org's edges run to millions. A split can refuse an edge, depending on the
edges taken before it, so a component that holds both records of a split is walked again, its edges in
order through a union-find; unions in one component never depend on another's.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

import numpy as np
import polars as pl

_TEXT = pl.Utf8
# Rule priority when two records are joined by several edges (lower first); the rule a link shows.
RULES = ("merged", "email", "phone_last_name", "domain", "probabilistic")
_PRIORITY = {rule: i for i, rule in enumerate(RULES)}
_TYPE_ORDER = {"contact": 0, "client": 0, "signal": 1}
# An edge between two records, as a frame row: an org's edges are made by the hundred thousand.
EDGE_SCHEMA = {"left": _TEXT, "right": _TEXT, "rule": _TEXT, "probability": pl.Float64}


class Edge(NamedTuple):
    """An edge between two records, as the union-find walks the edges of a group with a split."""

    left: str
    right: str
    rule: str
    probability: float

    @property
    def order(self) -> tuple[int, float, str, str]:
        return (_PRIORITY[self.rule], -self.probability, self.left, self.right)


def node(record_type: str, record_id: str) -> str:
    return f"{record_type}:{record_id}"


def _split_node(value: str) -> tuple[str, str]:
    record_type, _, record_id = value.partition(":")
    return record_type, record_id


class _Groups:
    """Union-find with cannot-link pairs: a union that would join a forbidden pair is refused."""

    def __init__(self, nodes: Iterable[str], forbidden: set[frozenset[str]]) -> None:
        self.parent = {n: n for n in nodes}
        self.forbidden: dict[str, set[str]] = defaultdict(set)
        for pair in forbidden:
            a, b = sorted(pair)
            self.forbidden[a].add(b)
            self.forbidden[b].add(a)
        self.members = {n: {n} for n in self.parent}

    def find(self, x: str) -> str:
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a: str, b: str) -> bool:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return True
        keep, drop = min(ra, rb), max(ra, rb)
        small, large = sorted((ra, rb), key=lambda r: (len(self.members[r]), r))
        if any(self.forbidden.get(n, set()) & self.members[large] for n in self.members[small]):
            return False
        self.members[keep] |= self.members.pop(drop)
        self.parent[drop] = keep
        return True


def decisions_of(
    decisions: Iterable[Mapping[str, Any]], entity_type: str, nodes: set[str]
) -> tuple[pl.DataFrame, set]:
    """The latest decision per pair: merges as edges, splits as forbidden pairs (known records only)."""
    latest: dict[frozenset[str], str] = {}
    for d in sorted(decisions, key=lambda d: (d["occurred_at"], d["event_id"])):
        if d["entity_type"] != entity_type:
            continue
        a, b = node(entity_type, d["entity_id"]), node(entity_type, d["other_id"])
        if a != b and a in nodes and b in nodes:
            latest[frozenset((a, b))] = d["decision"]
    merges = [(*sorted(pair), "merged", 1.0) for pair, what in latest.items() if what == "merged"]
    splits = {pair for pair, what in latest.items() if what == "split"}
    return pl.DataFrame(merges, schema=EDGE_SCHEMA, orient="row"), splits


def same_key_edges(keyed: pl.DataFrame, rule: str) -> pl.DataFrame:
    """Records sharing a key (columns `node`, `key`), each tied to the group's first record."""
    keyed = keyed.drop_nulls("key")
    first = keyed.group_by("key").agg(pl.col("node").min().alias("left"))
    return (
        keyed.join(first, on="key")
        .filter(pl.col("node") != pl.col("left"))
        .select(
            "left",
            pl.col("node").alias("right"),
            pl.lit(rule).alias("rule"),
            pl.lit(1.0).alias("probability"),
        )
    )


def _canonical(members: Iterable[str]) -> str:
    first = min(members, key=lambda n: (_TYPE_ORDER.get(_split_node(n)[0], 2), _split_node(n)[1]))
    record_type, record_id = _split_node(first)
    return record_id if record_type in ("contact", "client") else first


# A node's parts as expressions over the column `node` ("type:id"), and its name when it names its
# group (`_canonical` of the node alone): a contact's or client's id, else the node itself.
_PARTS = pl.col("node").str.splitn(":", 2)
_RECORD_TYPE = _PARTS.struct.field("field_0")
_RECORD_ID = _PARTS.struct.field("field_1").fill_null("")
OWN_NAME = pl.when(_RECORD_TYPE.is_in(["contact", "client"])).then(_RECORD_ID).otherwise(pl.col("node"))


def group(
    entity_type: str,
    nodes: list[str],
    edges: pl.DataFrame,
    decisions: Iterable[Mapping[str, Any]],
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """`(groups, best)`: each node's canonical id and group size (node, canonical, size), and the best
    edge that joined each node (node, rule, probability), edges taken by rule priority, then probability.

    The connected components give every group that holds no split pair; the groups that hold one (a
    person split from a near twin) are walked again in order by `group_in_order`, on their own records
    and edges: unions in one component never depend on another's."""
    merges, splits = decisions_of(decisions, entity_type, set(nodes))
    edges = pl.concat([merges, edges])
    groups, best = _components(nodes, edges)
    if not splits:
        return groups, best
    label = groups.select("node", "canonical")
    split = pl.DataFrame(
        [sorted(pair) for pair in splits], schema={"left": _TEXT, "right": _TEXT}, orient="row"
    )
    tangled = (
        split.join(label.rename({"node": "left", "canonical": "a"}), on="left")
        .join(label.rename({"node": "right", "canonical": "b"}), on="right")
        .filter(pl.col("a") == pl.col("b"))["a"]
        .unique()
    )
    if tangled.is_empty():
        return groups, best
    inside = groups.filter(pl.col("canonical").is_in(tangled.implode()))["node"].implode()
    walked = group_in_order(
        pl.Series("node", nodes, dtype=_TEXT).filter(pl.Series(nodes).is_in(inside)).to_list(),
        edges.filter(pl.col("left").is_in(inside)),
        splits,
    )
    return (
        pl.concat([groups.filter(~pl.col("node").is_in(inside)), walked[0]]),
        pl.concat([best.filter(~pl.col("node").is_in(inside)), walked[1]]),
    )


def _components(nodes: list[str], edges: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """`group` when no edge is refused: the connected components, and each node's best edge. Nodes are
    numbered in their text order, so edges sort on integers as they would on their records' ids."""
    # Imported here, not with the module: loading the pipeline's definitions must not load SciPy
    # (tests/unit/test_run_imports.py).
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    index = (
        pl.DataFrame({"node": nodes}, schema={"node": _TEXT})
        .with_row_index("i")
        .sort("node")
        .with_row_index("n")
    )
    # Each edge as its ends' numbers, its rule's priority and its probability: the ids' text is not
    # carried past the join.
    ends = (
        edges.join(index.select(left="node", a="n"), on="left")
        .join(index.select(right="node", b="n"), on="right")
        .select(
            "a",
            "b",
            pl.col("rule").replace_strict(_PRIORITY, return_dtype=pl.Int8).alias("priority"),
            "probability",
        )
    )
    graph = coo_matrix(
        (np.ones(ends.height, dtype=bool), (ends["a"].to_numpy(), ends["b"].to_numpy())),
        shape=(len(nodes), len(nodes)),
    )
    _, labels = connected_components(graph, directed=False)
    members = index.with_columns(
        pl.Series("group", labels),
        _RECORD_TYPE.replace_strict(_TYPE_ORDER, default=2, return_dtype=pl.Int8).alias("rank"),
        _RECORD_ID.alias("record_id"),
        OWN_NAME.alias("own"),
    )
    # The canonical record: the lowest type rank, then record id; among equals the first node given.
    first = (
        members.sort("rank", "record_id", "i")
        .group_by("group")
        .agg(pl.col("own").first().alias("canonical"), pl.len().alias("size"))
    )
    groups = members.join(first, on="group").select("node", "canonical", "size")
    best = (
        pl.concat([ends.with_columns(pl.col(end).alias("n")) for end in ("a", "b")])
        .sort("n", "priority", "probability", "a", "b", descending=[False, False, True, False, False])
        .unique(subset="n", keep="first", maintain_order=True)
        .join(index.select("n", "node"), on="n")
        .select(
            "node",
            pl.col("priority").replace_strict(dict(enumerate(RULES)), return_dtype=_TEXT).alias("rule"),
            "probability",
        )
    )
    return groups, best


def group_in_order(
    nodes: list[str], edges: pl.DataFrame, splits: set[frozenset[str]]
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """`group` for records with split decisions among them: edges in order through the union-find, an
    edge that would put a split pair into one group refused."""
    groups = _Groups(nodes, splits)
    best: dict[str, Edge] = {}
    for edge in sorted((Edge(*row) for row in edges.iter_rows()), key=lambda e: e.order):
        if frozenset((edge.left, edge.right)) in splits or not groups.union(edge.left, edge.right):
            continue
        for n in (edge.left, edge.right):
            if n not in best or edge.order < best[n].order:
                best[n] = edge
    members: dict[str, list[str]] = defaultdict(list)
    for n in nodes:
        members[groups.find(n)].append(n)
    rows = [(n, _canonical(group), len(group)) for group in members.values() for n in group]
    return (
        pl.DataFrame(rows, schema={"node": _TEXT, "canonical": _TEXT, "size": pl.UInt32}, orient="row"),
        pl.DataFrame(
            [(n, e.rule, e.probability) for n, e in best.items()],
            schema={"node": _TEXT, "rule": _TEXT, "probability": pl.Float64},
            orient="row",
        ),
    )
