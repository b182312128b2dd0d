"""The set-based cluster step names the same clusters as the per-event union-find it replaced.

The reference below is that union-find (links per event, each old cluster one node, a component named
after its smallest entity), run on random batches: touched events naming signals and pursuits, config
events, and entities already in clusters, across two orgs.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from dagster_project.apply.batch import _TOUCHED
from dagster_project.apply.clusters import components, earliest_event, touched_links
from dagster_project.config.registry import CONFIG_EVENT

ORGS = ("acme", "beta")
TYPES = ("candidate", "signal", "pursuit", "client")
IDS = ("a", "b", "B", "é", "a b", "10", "9", "z")
NAMES = ("candidate.created", "candidate.updated", "candidate.promoted", "signal.touched", CONFIG_EVENT)


class _UnionFind:
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


def _links_of(event_name, entity_type, entity_id, signal_ids, pursuit_id):
    nodes = [(entity_type, entity_id)]
    if event_name in ("candidate.created", "candidate.updated"):
        nodes.extend(("signal", str(s)) for s in signal_ids or () if s is not None)
    elif event_name == "candidate.promoted" and pursuit_id is not None:
        nodes.append(("pursuit", str(pursuit_id)))
    return nodes


def _reference(touched: list[tuple], members: list[tuple]):
    """What `apply_batch` computed one event at a time before the cluster step was set-based."""
    uf = _UnionFind()
    touched_nodes = set()
    for _event_id, org_id, event_name, entity_type, entity_id, signal_ids, pursuit_id, *_ in touched:
        if event_name == CONFIG_EVENT:
            continue
        nodes = _links_of(event_name, entity_type, entity_id, signal_ids, pursuit_id)
        first = (org_id, nodes[0])
        touched_nodes.add(first)
        for node in nodes[1:]:
            touched_nodes.add((org_id, node))
            uf.union(first, (org_id, node))
    for org_id, entity_type, entity_id, cluster_id, _first in members:
        uf.union((org_id, (entity_type, entity_id)), (org_id, ("\x00cluster", cluster_id)))
    for node in touched_nodes:
        uf.find(node)
    groups = defaultdict(list)
    for item in list(uf.parent):
        groups[uf.find(item)].append(item)
    absorbed, new_map = {}, set()
    for items in groups.values():
        org_id = items[0][0]
        entities = [node for _, node in items if node[0] != "\x00cluster"]
        entity_type, entity_id = min(entities)
        name = f"{entity_type}:{entity_id}"
        absorbed[(org_id, name)] = sorted(node[1] for _, node in items if node[0] == "\x00cluster")
        new_map.update((org_id, t, i, name) for t, i in entities)
    return absorbed, new_map


entity = st.tuples(st.sampled_from(ORGS), st.sampled_from(TYPES), st.sampled_from(IDS))
event = st.tuples(
    st.sampled_from(ORGS),
    st.sampled_from(NAMES),
    st.sampled_from(TYPES),
    st.sampled_from(IDS),
    st.one_of(st.none(), st.lists(st.one_of(st.none(), st.sampled_from(IDS)), max_size=3)),
    st.one_of(st.none(), st.sampled_from(IDS)),
)


@st.composite
def batches(draw):
    events = draw(st.lists(event, max_size=25))
    touched = [
        (f"e{n}", org, name, kind, ident, signals, pursuit, 1_000_000 * n, True)
        for n, (org, name, kind, ident, signals, pursuit) in enumerate(events)
    ]
    # Entities already in clusters: each in at most one, clusters named by an entity of theirs.
    olds = draw(st.lists(entity, max_size=12, unique=True))
    members = []
    for org, kind, ident in olds:
        cluster = draw(st.sampled_from([f"{t}:{i}" for _, t, i in olds]))
        members.append((org, kind, ident, cluster, None))
    return touched, members


@settings(max_examples=300, deadline=None)
@given(batches())
def test_set_based_components_name_the_same_clusters_as_the_per_event_union_find(batch) -> None:
    touched, members = batch
    frame = pl.DataFrame(touched, schema=_TOUCHED, orient="row")
    member_frame = pl.DataFrame(
        members,
        schema={
            "org_id": pl.Utf8,
            "entity_type": pl.Utf8,
            "entity_id": pl.Utf8,
            "cluster_id": pl.Utf8,
            "first_event_at": pl.Datetime("us", "UTC"),
        },
        orient="row",
    )
    nodes, links = touched_links(frame, CONFIG_EVENT)
    got = components(nodes, links, member_frame)

    want_absorbed, want_map = _reference(touched, members)
    assert {key: sorted(old) for key, old in got.absorbed.items()} == want_absorbed
    assert (
        set(got.map_frame.select("org_id", "entity_type", "entity_id", "cluster_id").iter_rows()) == want_map
    )
    assert got.map_frame.height == len(want_map)


def test_a_long_chain_of_links_is_one_cluster_named_after_its_smallest_entity() -> None:
    # Each candidate links the next signal: labels must travel the whole chain.
    touched = [
        (
            f"e{n}",
            "acme",
            "candidate.created",
            "candidate",
            f"c{n:03}",
            [f"s{n:03}", f"s{n + 1:03}"],
            None,
            n,
            True,
        )
        for n in range(120)
    ]
    frame = pl.DataFrame(touched[::-1], schema=_TOUCHED, orient="row")
    empty = pl.DataFrame(
        schema={"org_id": pl.Utf8, "entity_type": pl.Utf8, "entity_id": pl.Utf8, "cluster_id": pl.Utf8}
    )
    got = components(*touched_links(frame, CONFIG_EVENT), empty)
    assert got.absorbed == {("acme", "candidate:c000"): []}
    assert got.map_frame.height == 120 + 121


def test_the_earliest_event_bound_is_unknown_for_a_time_python_cannot_hold() -> None:
    row = ("e", "acme", "signal.touched", "signal", "a", None, None, 0, True)
    members = pl.DataFrame(schema={"first_event_at": pl.Datetime("us", "UTC")})
    assert earliest_event(pl.DataFrame([row], schema=_TOUCHED, orient="row"), members) is not None
    far = (*row[:7], 2**62, True)
    assert earliest_event(pl.DataFrame([far], schema=_TOUCHED, orient="row"), members) is None
