"""The probabilistic matcher: a Fellegi-Sunter model run by Splink on DuckDB, one org at a time.

Two sets of parameters (docs/identity.md). `FIXED` is stated here: the m and u probabilities the
matcher used before it could be trained, and what it uses for an org with fewer than
`identity.train_min_records` person records or whose training did not converge
(`dagster_project/identity/training.py`), since a few hundred records cannot support estimating them.
An org with enough records gets its own, trained on its records. Either way the parameters are a
`Parameters` mapping, rounded to 6 places, and `model_version(parameters)` is a hash of them and the
settings, never a timestamp: it changes exactly when the model does. Splink's DuckDB connection is
private to the call and single-threaded for a stable row order.
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import duckdb
import orjson
import polars as pl
import splink
import splink.comparison_level_library as cll
import splink.comparison_library as cl
from splink import DuckDBAPI, Linker, SettingsCreator, block_on

# The prior: the chance that two records of one org, drawn at random, are one person.
PRIOR = 1e-4
# Pairs at or above this probability but below the org's `identity.match_probability` are shown as
# possible matches waiting for a person's decision.
REVIEW_PROBABILITY = 0.5

# (comparison, its levels as (name, SQL condition or None for else, m, u)) in decreasing specificity.
# m: how often the level holds for two records of one person; u: for two different people.
Level = tuple[str, str | None, float, float]
Parameters = dict[str, list[Level]]
_LEVELS: Parameters = {
    "name": [
        ("exact", '"first_name_l" = "first_name_r" and "last_name_l" = "last_name_r"', 0.80, 0.0005),
        (
            "similar",
            'jaro_winkler_similarity("last_name_l", "last_name_r") >= 0.92 '
            'and jaro_winkler_similarity("first_name_l", "first_name_r") >= 0.88',
            0.12,
            0.002,
        ),
        ("same_last_name", '"last_name_l" = "last_name_r"', 0.04, 0.01),
        ("different", None, 0.04, 0.9875),
    ],
    "email": [
        ("exact", '"email_l" = "email_r"', 0.70, 0.00001),
        ("same_local_part", '"email_local_l" = "email_local_r"', 0.10, 0.0005),
        ("similar_local_part", 'levenshtein("email_local_l", "email_local_r") <= 2', 0.08, 0.001),
        ("different", None, 0.12, 0.99849),
    ],
    "phone": [
        ("exact", '"phone_l" = "phone_r"', 0.85, 0.0001),
        ("different", None, 0.15, 0.9999),
    ],
    "company": [
        ("exact", '"company_l" = "company_r"', 0.90, 0.02),
        ("different", None, 0.10, 0.98),
    ],
}
FIXED: Parameters = _LEVELS
_NULLS = {"name": "last_name", "email": "email_local", "phone": "phone", "company": "company"}
COLUMNS = ("unique_id", "first_name", "last_name", "email", "email_local", "phone", "company")


def _comparison(name: str, levels: list[Level]) -> cl.CustomComparison:
    configured: list[Any] = [cll.NullLevel(_NULLS[name])]
    for level, condition, m, u in levels:
        creator = cll.ElseLevel() if condition is None else cll.CustomLevel(condition, label_for_charts=level)
        configured.append(creator.configure(m_probability=m, u_probability=u))
    return cl.CustomComparison(comparison_levels=configured, output_column_name=name)


# Where the model looks for pairs: records sharing one of these.
PREDICTION_BLOCKS = (("email_local",), ("phone",), ("first_name", "last_name"), ("last_name", "company"))
# Each rule blocks on a key column of its own: the rule's values joined, or null where the block is too
# large to be compared (a null key shares no block), so the comparisons still see the original columns.
BLOCK_KEYS = tuple("block_" + "_".join(columns) for columns in PREDICTION_BLOCKS)


@dataclass(frozen=True)
class SkippedBlock:
    """A block left out of the comparisons: too many records share this rule's key to be evidence."""

    rule: str
    records: int

    @property
    def pairs(self) -> int:
        return self.records * (self.records - 1) // 2


def block_frame(
    features: pl.DataFrame, max_block_size: int | None = None
) -> tuple[pl.DataFrame, list[SkippedBlock]]:
    """The features with one key column per prediction block, and the blocks left out.

    A block of n records gives n(n-1)/2 candidate pairs, so a key that many records share (a catalog of
    a few names, a switchboard's number) makes the comparisons grow with the square of the org; and a
    key shared that widely says little about any one pair. A block with more than `max_block_size`
    records (None: no limit) gets a null key for that rule only: its records are still compared through
    the other rules and by the deterministic rules. The blocks left out are listed, largest first."""
    frame = features.select(COLUMNS).sort("unique_id")
    skipped: list[SkippedBlock] = []
    for columns, key in zip(PREDICTION_BLOCKS, BLOCK_KEYS, strict=True):
        joined = pl.concat_str([pl.col(c) for c in columns], separator="\x1f")  # null if any part is null
        frame = frame.with_columns(joined.alias(key))
        if max_block_size is None:
            continue
        sizes = frame.drop_nulls(key).group_by(key).len()
        too_large = sizes.filter(pl.col("len") > max_block_size)
        skipped += [SkippedBlock("+".join(columns), n) for n in too_large["len"].to_list()]
        frame = frame.with_columns(
            pl.when(pl.col(key).is_in(too_large[key].implode())).then(None).otherwise(pl.col(key)).alias(key)
        )
    return frame, sorted(skipped, key=lambda b: (-b.records, b.rule))


def settings(parameters: Parameters = FIXED, **training: Any) -> SettingsCreator:
    return SettingsCreator(
        link_type="dedupe_only",
        probability_two_random_records_match=PRIOR,
        comparisons=[_comparison(name, parameters[name]) for name in _LEVELS],
        blocking_rules_to_generate_predictions=[block_on(key) for key in BLOCK_KEYS],
        retain_intermediate_calculation_columns=True,
        retain_matching_columns=False,
        **training,
    )


def model_version(parameters: Parameters = FIXED) -> str:
    """A hash of the settings and parameters: the same model always has the same version."""
    described = orjson.dumps(
        {"splink": splink.__version__, "prior": PRIOR, "levels": parameters}, option=orjson.OPT_SORT_KEYS
    )
    return "fs-" + hashlib.sha256(described).hexdigest()[:12]


MODEL_VERSION = model_version(FIXED)


# The pairs the matcher scored, one row per pair (left < right), sorted: a frame, not Python objects, as
# the largest org holds millions. A pair's explanation is JSON text with sorted keys (comparison ->
# {level, match_weight}), as `identity.pairs` stores it; it is one of a few texts (one per combination
# of levels), so it is kept as a category.
PAIR_SCHEMA = {
    "left": pl.Utf8,
    "right": pl.Utf8,
    "probability": pl.Float64,
    "weight": pl.Float64,
    "explanation": pl.Categorical,
}


def no_pairs() -> pl.DataFrame:
    return pl.DataFrame(schema=PAIR_SCHEMA)


def _level_of_weight(parameters: Parameters) -> dict[str, dict[float, str]]:
    """Each comparison's level by its match weight (log2 m/u): Splink reports the weight per comparison,
    not the level. Two levels with one weight are named by the more specific one."""
    table: dict[str, dict[float, str]] = {}
    for name, levels in parameters.items():
        table[name] = {0.0: "null"}
        for level, _, m, u in levels:
            table[name].setdefault(round(math.log2(m / u), 4), level)
    return table


# Records per Splink call, counted once per block they are in: a call of whole blocks (`block_chunks`).
# One call for an org's every block held all its blocked pairs at once (benchmarks/README.md,
# *Identity resolution*).
CHUNK_RECORDS = 50_000
# The blocks of each rule to compare: rule key column (`BLOCK_KEYS`) -> key values.
Blocks = dict[str, set[str]]


def block_chunks(
    frame: pl.DataFrame, blocks: Blocks | None = None, chunk_records: int = CHUNK_RECORDS
) -> Iterator[pl.DataFrame]:
    """The blocked frame (`block_frame`) as Splink calls of whole blocks, each the records of its blocks
    with every other block's key nulled, so a call compares exactly the pairs its blocks hold. `blocks`
    chooses the blocks (None: all). Blocks are taken in rule and key order and a call closes once it
    holds `chunk_records` records, so the calls are the same for the same records in any order; a pair
    two rules both block is compared in each call that holds one of its blocks."""
    sizes = pl.concat(
        [
            frame.drop_nulls(key)
            .group_by(key)
            .len()
            .select(pl.lit(key).alias("rule"), pl.col(key).alias("key"), "len")
            for key in BLOCK_KEYS
        ]
    )
    if blocks is not None:
        chosen = pl.DataFrame(
            [(rule, key) for rule, keys in blocks.items() for key in keys],
            schema={"rule": pl.Utf8, "key": pl.Utf8},
            orient="row",
        )
        sizes = sizes.join(chosen, on=["rule", "key"], how="semi")
    sizes = sizes.filter(pl.col("len") > 1).sort("rule", "key")
    sizes = sizes.with_columns(((pl.col("len").cum_sum() - pl.col("len")) // chunk_records).alias("chunk"))
    for _, chunk in sizes.group_by("chunk", maintain_order=True):
        keep = {key: chunk.filter(pl.col("rule") == key)["key"].implode() for key in BLOCK_KEYS}
        yield frame.with_columns(
            pl.when(pl.col(key).is_in(keep[key])).then(pl.col(key)).alias(key) for key in BLOCK_KEYS
        ).filter(pl.any_horizontal(pl.col(key).is_not_null() for key in BLOCK_KEYS))


def score_pairs(
    features: pl.DataFrame,
    *,
    parameters: Parameters = FIXED,
    min_probability: float = REVIEW_PROBABILITY,
    max_block_size: int | None = None,
    blocks: Blocks | None = None,
    chunk_records: int = CHUNK_RECORDS,
) -> pl.DataFrame:
    """Every blocked pair of these records (one org) at or above `min_probability` (`PAIR_SCHEMA`), each with
    the match weight of every comparison (log2 of its Bayes factor): the pair's explanation. Blocks of
    more than `max_block_size` records are left out (`block_frame`); `blocks` compares only those blocks
    (None: all), sized over all the records given."""
    if features.height < 2:
        return no_pairs()
    frame, _ = block_frame(features, max_block_size)
    # Splink compares records by their row number in the frame (sorted by id, so the numbers sort as
    # the ids do): the pairs are then two integers each, not two id strings, until they are whole.
    ids = frame.get_column("unique_id")
    frame = frame.with_columns(pl.int_range(pl.len(), dtype=pl.UInt32).alias("unique_id"))
    level_of_weight = _level_of_weight(parameters)
    chunks = [
        _predict(chunk, parameters, min_probability, level_of_weight)
        for chunk in block_chunks(frame, blocks, chunk_records)
    ]
    if not chunks:
        return no_pairs()
    # A pair two calls compared is scored the same in both: the first is kept.
    pairs = pl.concat(chunks).unique(subset=["left", "right"], keep="first", maintain_order=True)
    del chunks
    pairs = pairs.sort("left", "right")
    return pairs.with_columns(
        ids.gather(pairs["left"]).alias("left"), ids.gather(pairs["right"]).alias("right")
    )


def _predict(
    frame: pl.DataFrame,
    parameters: Parameters,
    min_probability: float,
    level_of_weight: dict[str, dict[float, str]],
) -> pl.DataFrame:
    """One Splink call on a chunk of blocks. A pair's probability, weight and explanation follow from its
    comparisons' weights alone, so they are worked out once per distinct combination, in Python (its
    `round` and `orjson`'s text, as stored before), and joined to the pairs."""
    weights = [f"mw_{name}" for name in parameters]
    values = ["match_probability", "match_weight", *weights]
    con = duckdb.connect()
    con.execute("set threads = 1")
    try:
        db_api = DuckDBAPI(connection=con)
        linker = Linker(db_api.register(frame.to_arrow()), settings(parameters), log_level=logging.WARNING)
        predicted = linker.inference.predict(
            threshold_match_probability=min_probability, warning_mode="never"
        )
        raw = predicted.as_duckdbpyrelation().select(", ".join(["unique_id_l", "unique_id_r", *values])).pl()
    finally:
        con.close()
    described = []
    for row in raw.select(values).unique().iter_rows():
        probability, weight, *by_comparison = row
        explanation = {}
        for name, value in zip(parameters, by_comparison, strict=True):
            level = level_of_weight[name].get(round(float(value), 4), "?")
            explanation[name] = {"level": level, "match_weight": round(float(value), 6)}
        text = orjson.dumps(explanation, option=orjson.OPT_SORT_KEYS).decode()
        described.append((*row, round(float(probability), 6), round(float(weight), 6), text))
    table = pl.DataFrame(
        described,
        schema={
            **dict.fromkeys(values, pl.Float64),
            **{k: PAIR_SCHEMA[k] for k in ("probability", "weight")},
            "explanation": pl.Utf8,
        },
        orient="row",
    )
    left, right = pl.col("unique_id_l").cast(pl.UInt32), pl.col("unique_id_r").cast(pl.UInt32)
    return (
        raw.with_columns(pl.col(values).cast(pl.Float64))
        .join(table, on=values, how="left", nulls_equal=True)
        .select(
            pl.when(left <= right).then(left).otherwise(right).alias("left"),
            pl.when(left <= right).then(right).otherwise(left).alias("right"),
            "probability",
            "weight",
            pl.col("explanation").cast(pl.Categorical),
        )
    )
