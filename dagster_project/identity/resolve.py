"""Resolve one org's records into people and companies: deterministic rules first, then the Splink
model for the rest, explicit merges and splits over both. Pure: rows in, rows out, no I/O, no clock.

Order of evidence (docs/identity.md):
1. `merged` decisions join two records whatever the data says; the latest decision on a pair wins, so a
   `split` after a merge undoes it and forbids the pair from then on.
2. Deterministic rules: the same canonical email (`email`); the same phone and the same last name
   (`phone_last_name`); for clients, the same registrable domain (`domain`).
3. The probabilistic model (`probabilistic`), only for an org with at least `identity.matcher_min_records`
   person records, for pairs at or above `identity.match_probability`; with parameters trained on the
   org's records when it has at least `identity.train_min_records` and training converged, else the
   fixed ones (`model_parameters` on every link says which).
An edge that would put a forbidden (split) pair into one group is skipped. Everything is sorted before
it is used, so the same records in any order give the same rows.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import orjson
import polars as pl

from dagster_project.identity import model, training
from dagster_project.identity.keys import (
    canonical_email,
    canonical_phone,
    normalized_name,
    registrable_domain,
)

Row = dict[str, Any]
# Rule priority when two records are joined by several edges (lower first); the rule a link shows.
RULES = ("merged", "email", "phone_last_name", "domain", "probabilistic")
_PRIORITY = {rule: i for i, rule in enumerate(RULES)}
_TYPE_ORDER = {"contact": 0, "client": 0, "signal": 1}


@dataclass
class OrgIdentity:
    links: list[Row] = field(default_factory=list)
    pairs: list[Row] = field(default_factory=list)
    conflicts: list[Row] = field(default_factory=list)
    # Blocks the matcher left out as too large (model.block_frame), largest first.
    skipped_blocks: list[model.SkippedBlock] = field(default_factory=list)
    # The person records' features with their inputs (`person_features`): the next run's `Carry`.
    features: pl.DataFrame | None = None
    # Records whose inputs changed since the carried run (None: the matcher compared every block).
    changed_records: int | None = None
    # The settings the rows were resolved under (`store.settings_of`), kept with the org's fingerprint.
    settings: str | None = None


@dataclass(frozen=True)
class Carry:
    """What the org's last resolution left, under the same settings and fixed parameters: its features
    (with each record's inputs) and its scored pairs. Only the blocks a changed record was or is in are
    compared again; every other pair is carried over (docs/identity.md, *Costs what changed*)."""

    features: pl.DataFrame
    pairs: list[model.ScoredPair]


class Edge(NamedTuple):
    """An edge between two records; a tuple, as an org's edges are made by the hundred thousand."""

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
        # Each group's members, kept only to check forbidden pairs: an org without splits (most) would
        # otherwise copy member sets on every union.
        self.members = {n: {n} for n in self.parent} if self.forbidden else {}

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
        if self.members:
            small, large = sorted((ra, rb), key=lambda r: (len(self.members[r]), r))
            if any(self.forbidden.get(n, set()) & self.members[large] for n in self.members[small]):
                return False
            self.members[keep] |= self.members.pop(drop)
        self.parent[drop] = keep
        return True


def _decisions(
    decisions: Iterable[Mapping[str, Any]], entity_type: str, nodes: set[str]
) -> tuple[list[Edge], set]:
    """The latest decision per pair: merges as edges, splits as forbidden pairs (known records only)."""
    latest: dict[frozenset[str], str] = {}
    for d in sorted(decisions, key=lambda d: (d["occurred_at"], d["event_id"])):
        if d["entity_type"] != entity_type:
            continue
        a, b = node(entity_type, d["entity_id"]), node(entity_type, d["other_id"])
        if a != b and a in nodes and b in nodes:
            latest[frozenset((a, b))] = d["decision"]
    merges = [Edge(*sorted(pair), "merged", 1.0) for pair, what in latest.items() if what == "merged"]
    splits = {pair for pair, what in latest.items() if what == "split"}
    return sorted(merges, key=lambda e: e.order), splits


def _same_key_edges(keyed: Iterable[tuple[str, Any]], rule: str) -> list[Edge]:
    """Records sharing a key, each tied to the group's first record."""
    groups: dict[Any, list[str]] = defaultdict(list)
    for n, key in keyed:
        if key is not None:
            groups[key].append(n)
    edges = []
    for members in groups.values():
        first, *rest = sorted(members)
        edges.extend(Edge(first, other, rule, 1.0) for other in rest)
    return edges


def _canonical(members: Iterable[str]) -> str:
    first = min(members, key=lambda n: (_TYPE_ORDER.get(_split_node(n)[0], 2), _split_node(n)[1]))
    record_type, record_id = _split_node(first)
    return record_id if record_type in ("contact", "client") else first


def _group(
    entity_type: str,
    nodes: list[str],
    edges: list[Edge],
    decisions: Iterable[Mapping[str, Any]],
) -> tuple[dict[str, str], dict[str, Edge], list[Edge]]:
    """Each node's canonical id, the best edge that joined each node, and the edges a split refused."""
    merges, splits = _decisions(decisions, entity_type, set(nodes))
    groups = _Groups(nodes, splits)
    best: dict[str, Edge] = {}
    refused: list[Edge] = []
    for edge in [*merges, *sorted(edges, key=lambda e: e.order)]:
        if frozenset((edge.left, edge.right)) in splits:
            refused.append(edge)
            continue
        if not groups.union(edge.left, edge.right):
            refused.append(edge)
            continue
        for n in (edge.left, edge.right):
            if n not in best or edge.order < best[n].order:
                best[n] = edge
    members: dict[str, list[str]] = defaultdict(list)
    for n in nodes:
        members[groups.find(n)].append(n)
    canonical = {n: _canonical(group) for group in members.values() for n in group}
    return canonical, best, refused


def _link_rows(
    org_id: str,
    entity_type: str,
    records: list[Row],
    canonical: dict[str, str],
    best: dict[str, Edge],
    *,
    model_version: str = model.MODEL_VERSION,
    model_parameters: str = training.RULES_ONLY,
) -> list[Row]:
    sizes: dict[str, int] = defaultdict(int)
    for c in canonical.values():
        sizes[c] += 1
    rows = []
    for r in records:
        n = node(r["record_type"], r["record_id"])
        c = canonical[n]
        is_canonical = _canonical([n]) == c
        if is_canonical:
            rule, probability = ("canonical" if sizes[c] > 1 else "unique"), 1.0
        else:
            rule, probability = best[n].rule, best[n].probability
        rows.append(
            {
                "org_id": org_id,
                "entity_type": entity_type,
                "canonical_id": c,
                "record_type": r["record_type"],
                "record_id": r["record_id"],
                "source_system": r.get("source_system")
                or ("signal" if r["record_type"] == "signal" else "workstream"),
                "source_id": r.get("source_id") or r["record_id"],
                "match_rule": rule,
                "match_probability": probability,
                "model_version": model_version,
                "model_parameters": model_parameters,
            }
        )
    return sorted(rows, key=lambda row: (row["canonical_id"], row["record_type"], row["record_id"]))


# The fields a record's features are made from: a record whose values are the same keeps its features.
_INPUTS = ("name", "email", "phone", "company_domain", "client_id")
FEATURE_SCHEMA = {c: pl.Utf8 for c in (*model.COLUMNS, "client_id", "inputs")}


def _inputs(record: Row) -> str:
    return orjson.dumps([record.get(name) for name in _INPUTS]).decode()


def person_features(records: list[Row], region: str, known: pl.DataFrame | None = None) -> pl.DataFrame:
    """The columns the rules and the model compare, one row per record, sorted by node id, with the
    record's `inputs`. A record whose inputs equal its row in `known` (features made in the same region)
    keeps that row instead of being parsed again."""
    kept: dict[str, tuple] = {}
    if known is not None:
        kept = {row[0]: row for row in known.select(*FEATURE_SCHEMA).iter_rows()}
    rows = []
    # Parsing a phone number or a domain is the costly part, and an org's records repeat a few of them
    # (a company's switchboard, its domain): each distinct value is parsed once.
    phones: dict[Any, str | None] = {}
    domains: dict[Any, str | None] = {}
    for r in records:
        unique_id, inputs = node(r["record_type"], r["record_id"]), _inputs(r)
        previous = kept.get(unique_id)
        if previous is not None and previous[-1] == inputs:
            rows.append(previous)
            continue
        name = normalized_name(r.get("name"))
        words = name.split(" ") if name else []
        email = canonical_email(r.get("email"))
        phone, domain = r.get("phone"), r.get("company_domain")
        if phone not in phones:
            phones[phone] = canonical_phone(phone, region)
        if domain not in domains:
            domains[domain] = registrable_domain(domain)
        rows.append(
            (
                unique_id,
                words[0] if len(words) > 1 else None,
                words[-1] if words else None,
                email,
                email.split("@")[0] if email else None,
                phones[phone],
                domains[domain] or (email.split("@")[1] if email else None),
                r.get("client_id"),
                inputs,
            )
        )
    return pl.DataFrame(rows, schema=FEATURE_SCHEMA, orient="row").sort("unique_id")


def _changed(features: pl.DataFrame, known: pl.DataFrame) -> pl.DataFrame:
    """The rows of records whose inputs changed, arrived or left, as they were and as they are."""
    now = features.select("unique_id", "inputs")
    before = known.select("unique_id", "inputs")
    ids = pl.concat(
        [
            now.join(before, on=["unique_id", "inputs"], how="anti"),
            before.join(now, on=["unique_id", "inputs"], how="anti"),
        ]
    )["unique_id"]
    return pl.concat(
        [
            features.filter(pl.col("unique_id").is_in(ids.implode())),
            known.filter(pl.col("unique_id").is_in(ids.implode())),
        ]
    )


def _rescore(
    features: pl.DataFrame, carry: Carry, *, parameters: model.Parameters, max_block_size: int | None
) -> tuple[list[model.ScoredPair], int]:
    """The org's scored pairs from the carried ones: the blocks a changed record was or is in are
    compared again; a carried pair is kept while neither record changed and the two still share a block
    the matcher compares (a block that grew past the limit is left out). Equal to scoring every block."""
    changed = _changed(features, carry.features)
    raw, _ = model.block_frame(changed, None)
    blocks = {key: set(raw.drop_nulls(key)[key].to_list()) for key in model.BLOCK_KEYS}
    rescored = model.score_pairs(
        features, parameters=parameters, max_block_size=max_block_size, blocks=blocks
    )
    frame, _ = model.block_frame(features, max_block_size)
    keys = {row[0]: row[1:] for row in frame.select("unique_id", *model.BLOCK_KEYS).iter_rows()}
    gone = set(changed["unique_id"].to_list())
    scored = {(p.left, p.right): p for p in rescored}
    for p in carry.pairs:
        if p.left in gone or p.right in gone or (p.left, p.right) in scored:
            continue
        if any(a is not None and a == b for a, b in zip(keys[p.left], keys[p.right], strict=True)):
            scored[(p.left, p.right)] = p
    return [scored[key] for key in sorted(scored)], len(gone)


def _carries(carry: Carry, min_records: int, train_min_records: int | None) -> bool:
    """The carried pairs are what the fixed model scored: the carried run compared its blocks with
    the fixed parameters (enough records, none trained)."""
    before = carry.features.height
    return before >= min_records and (train_min_records is None or before < train_min_records)


def resolve_people(
    org_id: str,
    records: list[Row],
    decisions: list[Mapping[str, Any]],
    *,
    region: str,
    min_records: int,
    threshold: float,
    train_min_records: int | None = None,
    max_block_size: int | None = None,
    carry: Carry | None = None,
) -> OrgIdentity:
    """One org's person records → links (one per record), scored pairs and conflicts. The model is
    trained on the records when there are at least `train_min_records` (None: never); it compares no
    block of more than `max_block_size` records (None: no limit). With a `carry` from a run under the
    same settings, only what changed is parsed and compared again (`_rescore`), unless either run
    trained its parameters or the carried run was below `min_records`."""
    out = OrgIdentity()
    live = sorted(
        (r for r in records if r.get("erased_at") is None), key=lambda r: (r["record_type"], r["record_id"])
    )
    erased = [r for r in records if r.get("erased_at") is not None]
    features = person_features(live, region, carry.features if carry is not None else None)
    out.features = features
    edges = _same_key_edges(features.select("unique_id", "email").iter_rows(), "email")
    phone_name = features.select(
        "unique_id",
        pl.when(pl.col("phone").is_not_null() & pl.col("last_name").is_not_null()).then(
            pl.concat_str("phone", "last_name", separator="|")
        ),
    ).iter_rows()
    edges += _same_key_edges(phone_name, "phone_last_name")
    scored: list[model.ScoredPair] = []
    parameters, used = model.FIXED, training.RULES_ONLY
    if features.height >= min_records:
        used = training.FIXED
        trains = train_min_records is not None and features.height >= train_min_records
        if trains:
            trained = training.train(features)
            parameters, used = trained.parameters, trained.used
        if carry is not None and not trains and _carries(carry, min_records, train_min_records):
            scored, out.changed_records = _rescore(
                features, carry, parameters=parameters, max_block_size=max_block_size
            )
        else:
            scored = model.score_pairs(features, parameters=parameters, max_block_size=max_block_size)
        out.skipped_blocks = model.block_frame(features, max_block_size)[1]
        edges += [
            Edge(p.left, p.right, "probabilistic", p.probability)
            for p in scored
            if p.probability >= threshold
        ]
    nodes = [*features["unique_id"].to_list(), *(node(r["record_type"], r["record_id"]) for r in erased)]
    canonical, best, _refused = _group("contact", nodes, edges, decisions)
    version = model.model_version(parameters)
    out.links = _link_rows(
        org_id, "contact", [*live, *erased], canonical, best, model_version=version, model_parameters=used
    )
    decided = {
        frozenset((node("contact", d["entity_id"]), node("contact", d["other_id"]))) for d in decisions
    }
    for p in scored:
        linked = canonical[p.left] == canonical[p.right]
        out.pairs.append(
            {
                "org_id": org_id,
                "entity_type": "contact",
                "left_id": p.left,
                "right_id": p.right,
                "match_probability": p.probability,
                "match_weight": p.weight,
                "explanation": p.explanation,
                "linked": linked,
                "model_version": version,
            }
        )
        if not linked and p.probability < threshold and frozenset((p.left, p.right)) not in decided:
            out.conflicts.append(
                _conflict(
                    org_id,
                    "contact",
                    "possible_match",
                    p.left,
                    p.right,
                    f"match probability {p.probability} below the org's threshold {threshold}",
                )
            )
    clients_by_email: dict[str, set[str]] = defaultdict(set)
    for row in features.iter_rows(named=True):
        if row["email"] and row["client_id"]:
            clients_by_email[row["email"]].add(row["client_id"])
    for clients in sorted(clients_by_email.values(), key=sorted):
        if len(clients) > 1:
            first, second, *_ = sorted(clients)
            out.conflicts.append(
                _conflict(
                    org_id,
                    "client",
                    "email_on_two_clients",
                    first,
                    second,
                    f"{len(clients)} clients share the address of one person",
                )
            )
    unique = {(c["entity_type"], c["kind"], c["left_id"], c["right_id"]): c for c in out.conflicts}
    out.conflicts = [unique[key] for key in sorted(unique)]
    return out


def _conflict(org_id: str, entity_type: str, kind: str, left: str, right: str, detail: str) -> Row:
    return {
        "org_id": org_id,
        "entity_type": entity_type,
        "kind": kind,
        "left_id": left,
        "right_id": right,
        "detail": detail,
    }


def resolve_clients(org_id: str, clients: list[Row], decisions: list[Mapping[str, Any]]) -> OrgIdentity:
    """One org's clients → links by registrable domain, explicit merges and splits over them."""
    records = sorted(
        ({**c, "record_type": "client", "record_id": c["client_id"]} for c in clients),
        key=lambda r: r["record_id"],
    )
    keyed = [(node("client", r["record_id"]), registrable_domain(r.get("domain"))) for r in records]
    edges = _same_key_edges(keyed, "domain")
    canonical, best, _ = _group("client", [n for n, _ in keyed], edges, decisions)
    return OrgIdentity(links=_link_rows(org_id, "client", records, canonical, best))
