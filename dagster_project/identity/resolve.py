"""Resolve one org's records into people and companies: deterministic rules first, then the Splink
model for the rest, explicit merges and splits over both (`grouping`). Pure: rows in, frames out, no I/O,
no clock.

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

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
import polars as pl

from dagster_project.identity import model, training
from dagster_project.identity.grouping import OWN_NAME, group, node, same_key_edges
from dagster_project.identity.keys import (
    canonical_email,
    canonical_phone,
    normalized_name,
    registrable_domain,
)

Row = dict[str, Any]
_TEXT = pl.Utf8
LINK_SCHEMA = {
    "org_id": _TEXT,
    "entity_type": _TEXT,
    "canonical_id": _TEXT,
    "record_type": _TEXT,
    "record_id": _TEXT,
    "source_system": _TEXT,
    "source_id": _TEXT,
    "match_rule": _TEXT,
    "match_probability": pl.Float64,
    "model_version": _TEXT,
    "model_parameters": _TEXT,
}
PAIRS_SCHEMA = {
    "org_id": _TEXT,
    "entity_type": _TEXT,
    "left_id": _TEXT,
    "right_id": _TEXT,
    "match_probability": pl.Float64,
    "match_weight": pl.Float64,
    "explanation": pl.Categorical,
    "linked": pl.Boolean,
    "model_version": _TEXT,
}
CONFLICT_SCHEMA = {c: _TEXT for c in ("org_id", "entity_type", "kind", "left_id", "right_id", "detail")}


@dataclass
class OrgIdentity:
    """One org's identity rows, as frames with the columns of `identity.links`, `identity.pairs` and
    `identity.conflicts` (an org's pairs run to millions: frames, not Python objects)."""

    links: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=LINK_SCHEMA))
    pairs: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=PAIRS_SCHEMA))
    conflicts: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=CONFLICT_SCHEMA))
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
    pairs: pl.DataFrame  # model.PAIR_SCHEMA


def _blank(column: str) -> pl.Expr:
    """Null or empty text: what Python's `or` passes over."""
    return pl.col(column).is_null() | (pl.col(column) == "")


# An org's source records as the identity step reads them (`core.contact_records`).
_RECORD_TEXT = ("record_type", "record_id", "source_system", "source_id", "name", "email", "phone")
RECORD_SCHEMA = {
    **dict.fromkeys((*_RECORD_TEXT, "client_id", "company_domain"), _TEXT),
    "erased_at": pl.Datetime("us", "UTC"),
}


def _record_frame(records: list[Row] | pl.DataFrame) -> pl.DataFrame:
    """Records as a frame of `RECORD_SCHEMA` (a field a record lacks is null): as Python dicts, kept for
    the whole resolution, a large org's records took several times what their columns take in a frame."""
    if isinstance(records, pl.DataFrame):
        return records.select(pl.col(c).cast(t) for c, t in RECORD_SCHEMA.items())
    return pl.DataFrame([{c: r.get(c) for c in RECORD_SCHEMA} for r in records], schema=RECORD_SCHEMA)


def _link_rows(
    org_id: str,
    entity_type: str,
    records: pl.DataFrame,
    groups: pl.DataFrame,
    best: pl.DataFrame,
    *,
    model_version: str = model.MODEL_VERSION,
    model_parameters: str = training.RULES_ONLY,
) -> pl.DataFrame:
    """One link row per record (`LINK_SCHEMA`): its group's canonical id, and how it joined the group
    (its best edge), or `canonical`/`unique` for the record the group is named after."""
    frame = records.select("record_type", "record_id", "source_system", "source_id").with_columns(
        pl.concat_str("record_type", pl.lit(":"), "record_id").alias("node")
    )
    is_canonical = pl.col("canonical") == OWN_NAME
    return (
        frame.join(groups, on="node", how="left")
        .join(best, on="node", how="left")
        .select(
            pl.lit(org_id, _TEXT).alias("org_id"),
            pl.lit(entity_type, _TEXT).alias("entity_type"),
            pl.col("canonical").alias("canonical_id"),
            "record_type",
            "record_id",
            pl.when(_blank("source_system"))
            .then(
                pl.when(pl.col("record_type") == "signal")
                .then(pl.lit("signal"))
                .otherwise(pl.lit("workstream"))
            )
            .otherwise(pl.col("source_system"))
            .alias("source_system"),
            pl.when(_blank("source_id"))
            .then(pl.col("record_id"))
            .otherwise(pl.col("source_id"))
            .alias("source_id"),
            pl.when(is_canonical)
            .then(pl.when(pl.col("size") > 1).then(pl.lit("canonical")).otherwise(pl.lit("unique")))
            .otherwise(pl.col("rule"))
            .alias("match_rule"),
            pl.when(is_canonical)
            .then(pl.lit(1.0))
            .otherwise(pl.col("probability"))
            .alias("match_probability"),
            pl.lit(model_version, _TEXT).alias("model_version"),
            pl.lit(model_parameters, _TEXT).alias("model_parameters"),
        )
        .sort("canonical_id", "record_type", "record_id")
    )


# The fields a record's features are made from: a record whose values are the same keeps its features.
_INPUTS = ("name", "email", "phone", "company_domain", "client_id")
FEATURE_SCHEMA = {c: pl.Utf8 for c in (*model.COLUMNS, "client_id", "inputs")}


def person_features(
    records: Iterable[Row] | pl.DataFrame, region: str, known: pl.DataFrame | None = None
) -> pl.DataFrame:
    """The columns the rules and the model compare, one row per record, sorted by node id, with the
    record's `inputs`. A record whose inputs equal its row in `known` (features made in the same region)
    keeps that row instead of being parsed again: matched by a join, so a carried run builds rows in
    Python only for the records that changed."""
    if isinstance(records, pl.DataFrame):
        cols = {c: records[c].to_list() for c in ("record_type", "record_id", *_INPUTS)}
    else:
        rows = list(records)
        cols = {c: [r[c] for r in rows] for c in ("record_type", "record_id")}
        cols |= {c: [r.get(c) for r in rows] for c in _INPUTS}
    ids = [node(t, i) for t, i in zip(cols["record_type"], cols["record_id"], strict=True)]
    inputs = [orjson.dumps(v).decode() for v in zip(*(cols[c] for c in _INPUTS), strict=True)]
    given = pl.DataFrame({"unique_id": ids, "inputs": inputs}, schema={"unique_id": _TEXT, "inputs": _TEXT})
    given = given.with_row_index("i")
    kept = pl.DataFrame(schema=FEATURE_SCHEMA)
    todo = given["i"].to_list()
    if known is not None:
        known = known.select(*FEATURE_SCHEMA).cast(FEATURE_SCHEMA)
        kept = given.join(known, on=["unique_id", "inputs"], how="inner").select(*FEATURE_SCHEMA)
        todo = given.join(known, on=["unique_id", "inputs"], how="anti")["i"].to_list()
    parsed = []
    # Parsing a phone number or a domain is the costly part, and an org's records repeat a few of them
    # (a company's switchboard, its domain): each distinct value is parsed once.
    phones: dict[Any, str | None] = {}
    domains: dict[Any, str | None] = {}
    for i in todo:
        name = normalized_name(cols["name"][i])
        words = name.split(" ") if name else []
        email = canonical_email(cols["email"][i])
        phone, domain = cols["phone"][i], cols["company_domain"][i]
        if phone not in phones:
            phones[phone] = canonical_phone(phone, region)
        if domain not in domains:
            domains[domain] = registrable_domain(domain)
        parsed.append(
            (
                ids[i],
                words[0] if len(words) > 1 else None,
                words[-1] if words else None,
                email,
                email.split("@")[0] if email else None,
                phones[phone],
                domains[domain] or (email.split("@")[1] if email else None),
                cols["client_id"][i],
                inputs[i],
            )
        )
    fresh = pl.DataFrame(parsed, schema=FEATURE_SCHEMA, orient="row")
    return pl.concat([kept, fresh]).sort("unique_id")


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
) -> tuple[pl.DataFrame, int]:
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
    keys = frame.select("unique_id", *model.BLOCK_KEYS)
    gone = changed["unique_id"].unique()
    side = {
        end: keys.rename({"unique_id": end, **{k: f"{k}_{end}" for k in model.BLOCK_KEYS}})
        for end in ("left", "right")
    }
    carried = (
        carry.pairs.filter(~pl.col("left").is_in(gone.implode()) & ~pl.col("right").is_in(gone.implode()))
        .join(rescored.select("left", "right"), on=["left", "right"], how="anti")
        .join(side["left"], on="left")
        .join(side["right"], on="right")
        .filter(
            pl.any_horizontal(
                (pl.col(f"{k}_left") == pl.col(f"{k}_right")).fill_null(False) for k in model.BLOCK_KEYS
            )
        )
        .select(*model.PAIR_SCHEMA)
    )
    return pl.concat([rescored, carried]).sort("left", "right"), gone.len()


def _carries(carry: Carry, min_records: int, train_min_records: int | None) -> bool:
    """The carried pairs are what the fixed model scored: the carried run compared its blocks with
    the fixed parameters (enough records, none trained)."""
    before = carry.features.height
    return before >= min_records and (train_min_records is None or before < train_min_records)


def _possible_matches(
    pairs: pl.DataFrame, threshold: float, decisions: list[Mapping[str, Any]]
) -> pl.DataFrame:
    """Conflicts for the scored pairs below the threshold that no group joins and no decision settled."""
    decided = pl.DataFrame(
        [sorted((node("contact", d["entity_id"]), node("contact", d["other_id"]))) for d in decisions],
        schema={"left_id": _TEXT, "right_id": _TEXT},
        orient="row",
    )
    open_pairs = pairs.filter(~pl.col("linked") & (pl.col("match_probability") < threshold)).join(
        decided, on=["left_id", "right_id"], how="anti"
    )
    # Each distinct probability's text as Python writes it (`repr`), as the detail always read.
    said = pl.DataFrame(
        [
            (p, f"match probability {p} below the org's threshold {threshold}")
            for p in open_pairs["match_probability"].unique().to_list()
        ],
        schema={"match_probability": pl.Float64, "detail": _TEXT},
        orient="row",
    )
    return open_pairs.join(said, on="match_probability", how="left").select(
        "org_id", "entity_type", pl.lit("possible_match").alias("kind"), "left_id", "right_id", "detail"
    )


def _shared_emails(org_id: str, features: pl.DataFrame) -> pl.DataFrame:
    """Conflicts for an address that records of two or more clients carry."""
    shared = (
        features.drop_nulls(["email", "client_id"])
        .filter((pl.col("email") != "") & (pl.col("client_id") != ""))
        .group_by("email")
        .agg(pl.col("client_id").unique().sort())
        .filter(pl.col("client_id").list.len() > 1)
    )
    unique: dict[tuple[str, str], Row] = {}
    for clients in sorted(shared["client_id"].to_list()):
        first, second, *_ = clients
        unique[(first, second)] = _conflict(
            org_id,
            "client",
            "email_on_two_clients",
            first,
            second,
            f"{len(clients)} clients share the address of one person",
        )
    return pl.DataFrame(list(unique.values()), schema=CONFLICT_SCHEMA)


def resolve_people(
    org_id: str,
    records: list[Row] | pl.DataFrame,
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
    frame = _record_frame(records)
    live = frame.filter(pl.col("erased_at").is_null()).sort("record_type", "record_id")
    erased = frame.filter(pl.col("erased_at").is_not_null())
    known = carry.features if carry is not None else None
    features = person_features(live, region, known)
    out.features = features
    phone_name = pl.when(pl.col("phone").is_not_null() & pl.col("last_name").is_not_null()).then(
        pl.concat_str("phone", "last_name", separator="|")
    )
    edges = [
        same_key_edges(
            features.select(pl.col("unique_id").alias("node"), pl.col("email").alias("key")), "email"
        ),
        same_key_edges(
            features.select(pl.col("unique_id").alias("node"), phone_name.alias("key")), "phone_last_name"
        ),
    ]
    scored = model.no_pairs()
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
        edges.append(
            scored.filter(pl.col("probability") >= threshold).select(
                "left", "right", pl.lit("probabilistic").alias("rule"), "probability"
            )
        )
    erased_nodes = erased.select(pl.concat_str("record_type", pl.lit(":"), "record_id"))
    nodes = [*features["unique_id"].to_list(), *erased_nodes.to_series().to_list()]
    groups, best = group("contact", nodes, pl.concat(edges), decisions)
    version = model.model_version(parameters)
    out.links = _link_rows(
        org_id,
        "contact",
        pl.concat([live, erased]),
        groups,
        best,
        model_version=version,
        model_parameters=used,
    )
    canonical = groups.select("node", "canonical")
    out.pairs = (
        scored.join(canonical.rename({"node": "left", "canonical": "left_group"}), on="left", how="left")
        .join(canonical.rename({"node": "right", "canonical": "right_group"}), on="right", how="left")
        .sort("left", "right")
        .select(
            pl.lit(org_id, _TEXT).alias("org_id"),
            pl.lit("contact", _TEXT).alias("entity_type"),
            pl.col("left").alias("left_id"),
            pl.col("right").alias("right_id"),
            pl.col("probability").alias("match_probability"),
            pl.col("weight").alias("match_weight"),
            "explanation",
            (pl.col("left_group") == pl.col("right_group")).alias("linked"),
            pl.lit(version, _TEXT).alias("model_version"),
        )
    )
    conflicts = pl.concat(
        [_possible_matches(out.pairs, threshold, decisions), _shared_emails(org_id, features)]
    )
    out.conflicts = conflicts.sort("entity_type", "kind", "left_id", "right_id")
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
    keyed = pl.DataFrame(
        [(node("client", r["record_id"]), registrable_domain(r.get("domain"))) for r in records],
        schema={"node": _TEXT, "key": _TEXT},
        orient="row",
    )
    groups, best = group("client", keyed["node"].to_list(), same_key_edges(keyed, "domain"), decisions)
    return OrgIdentity(links=_link_rows(org_id, "client", _record_frame(records), groups, best))
