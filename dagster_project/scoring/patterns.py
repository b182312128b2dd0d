"""Win patterns and similar past pursuits, from the same leak-free facts the scoring uses.

A pattern is an attribute a pursuit had before its outcome was known (checklist items done before the
stage it closed from, proposal versions, memory present, lead source, response time, value band; never
its own reason code). For each, the win rate with and without it, the lift (with ÷ without) and its 95 %
interval (the log risk ratio's normal interval, Katz et al.; 95 % for the whole family of attributes
tested). Only patterns seen often enough on both sides and whose interval excludes 1.0 are published:
the others are noise at this sample size.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from statistics import NormalDist

import polars as pl

from dagster_project.contract.states import PURSUIT_SUBMIT as SUBMIT

MIN_SUPPORT = 20  # pursuits needed with, and without, an attribute before it can be a pattern
CONFIDENCE = 0.95
SIMILAR_PER_PURSUIT = 3
DECISIVE_TYPES = ("decision", "risk")  # the atoms worth reading on a similar past pursuit

ATOM_WORDS = {
    "decision": "a decision",
    "risk": "a risk",
    "preference": "a client preference",
    "note": "a note",
    "status": "a status update",
}

PATTERN_SCHEMA = {
    "org_id": pl.Utf8,
    "pattern": pl.Utf8,
    "attribute": pl.Utf8,
    "support_with": pl.Int64,
    "support_without": pl.Int64,
    "win_rate_with": pl.Float64,
    "win_rate_without": pl.Float64,
    "lift": pl.Float64,
    "lift_ci_low": pl.Float64,
    "lift_ci_high": pl.Float64,
}
SIMILAR_SCHEMA = {
    "org_id": pl.Utf8,
    "pursuit_id": pl.Utf8,
    "similar_rank": pl.Int32,
    "similar_pursuit_id": pl.Utf8,
    "same_client": pl.Boolean,
    "same_industry": pl.Boolean,
    "same_value_band": pl.Boolean,
    "outcome": pl.Utf8,
    "closed_at": pl.Datetime("us", "UTC"),
}


def attributes(row: dict) -> Iterator[tuple[str, str]]:
    """(attribute key, words for "when …") of everything a closed pursuit had before its outcome."""
    stage = row["last_open_stage"]
    done = set(row["done_items"] or ())
    for item in sorted(done):
        checklist, _, name = item.partition(":")
        yield f"checklist:{item}", f"the {checklist} item {name.replace('_', ' ')} is done before {stage}"
    pink = set(row["pink_items"] or ())
    if pink and all(f"pink:{i}" in done for i in pink):
        yield "checklist:all_pink", "every pink item is done before the pursuit moves on"
    if row["proposal_versions"] >= 2:
        yield "proposals:revised", "the proposal was revised (two or more versions sent)"
    for atom_type in row["atom_types"] or ():
        yield f"memory:{atom_type}", f"memory holds {ATOM_WORDS.get(atom_type, atom_type)}"
    for tag in row["atom_tags"] or ():
        yield f"memory_tag:{tag}", f"memory holds an entry tagged {tag.replace('-', ' ')}"
    if row["lead_source"]:
        yield f"lead_source:{row['lead_source']}", f"the lead came by {row['lead_source']}"
    hours = row["response_hours"]
    if hours is not None and hours <= 4:
        yield "response:within_4h", "the first response came within 4 hours"
    if hours is not None and hours <= 24:
        yield "response:within_24h", "the first response came within a day"
    if row["value_band"]:
        yield f"value_band:{row['value_band']}", f"the value band is {row['value_band']}"


def lift_interval(
    won_with: int, n_with: int, won_without: int, n_without: int, z: float
) -> tuple[float, float, float]:
    """Lift (risk ratio) and its interval at `z`; 0.5 added to every cell when one is empty (Haldane)."""
    a, n1, c, n0 = won_with, n_with, won_without, n_without
    if a == 0 or c == 0 or a == n1 or c == n0:
        a, n1, c, n0 = a + 0.5, n1 + 1, c + 0.5, n0 + 1
    lift = (a / n1) / (c / n0)
    se = math.sqrt(1 / a - 1 / n1 + 1 / c - 1 / n0)
    return lift, lift * math.exp(-z * se), lift * math.exp(z * se)


def wording(lift: float, phrase: str) -> str:
    pct = round(abs(lift - 1) * 100)
    return f"win rate is {pct} % {'higher' if lift > 1 else 'lower'} when {phrase}"


def submitted(latest: pl.DataFrame) -> pl.DataFrame:
    """The closed pursuits that were submitted (closed from `submit`): like is compared with like.

    A pursuit lost at qualification never had the chance to tick its red items or send a proposal, so
    across all closed pursuits every late attribute would look like a win factor; among submitted ones
    only what made a difference at the decision remains.
    """
    return latest.filter(pl.col("outcome").is_not_null() & (pl.col("last_open_stage") == SUBMIT))


def win_patterns(org_id: str, closed: pl.DataFrame, min_support: int = MIN_SUPPORT) -> pl.DataFrame:
    """The published patterns of one org's closed pursuits, strongest lift (either way) first."""
    n, wins = closed.height, 0
    seen: dict[str, list] = {}  # key -> [phrase, with, won_with]
    for row in closed.iter_rows(named=True):
        won = row["outcome"] == "won"
        wins += won
        for key, phrase in attributes(row):
            entry = seen.setdefault(key, [phrase, 0, 0])
            entry[1] += 1
            entry[2] += won
    tested = [k for k in sorted(seen) if min(seen[k][1], n - seen[k][1]) >= min_support]
    # 95 % for the whole family of attributes tested (Bonferroni): with forty attributes, plain 95 %
    # intervals would publish two coincidences on average.
    z = NormalDist().inv_cdf(1 - (1 - CONFIDENCE) / (2 * max(1, len(tested))))
    rows = []
    for key in tested:
        phrase, n_with, won_with = seen[key]
        n_without, won_without = n - n_with, wins - won_with
        lift, low, high = lift_interval(won_with, n_with, won_without, n_without, z)
        if low <= 1.0 <= high:
            continue
        rows.append(
            {
                "org_id": org_id,
                "pattern": wording(lift, phrase),
                "attribute": key,
                "support_with": n_with,
                "support_without": n_without,
                "win_rate_with": won_with / n_with,
                "win_rate_without": won_without / n_without,
                "lift": lift,
                "lift_ci_low": low,
                "lift_ci_high": high,
            }
        )
    rows.sort(key=lambda r: (-abs(math.log(r["lift"])), r["attribute"]))
    return pl.DataFrame(rows, schema=PATTERN_SCHEMA)


# The match patterns that can put a closed pursuit among an open one's most similar, strongest first:
# its points are 4 × same client + 2 × same industry + 1 × same value band.
_SIMILAR_KEYS: tuple[tuple[str, ...], ...] = (
    ("client_id", "industry", "value_band"),
    ("client_id", "industry"),
    ("client_id", "value_band"),
    ("client_id",),
    ("industry", "value_band"),
    ("industry",),
    ("value_band",),
)


def similar_pursuits(org_id: str, facts: pl.DataFrame) -> pl.DataFrame:
    """Up to three closed pursuits per open one: same client first, then industry, then value band.

    Ties go to the most recently closed. Only the three latest closed pursuits of each match pattern
    can be among an open pursuit's three, so each open pursuit compares with at most 21 candidates,
    never with the whole history.
    """
    cols = ["pursuit_id", "client_id", "industry", "value_band"]
    closed = facts.filter(pl.col("outcome").is_not_null()).select(*cols, "outcome", "closed_at")
    open_ = facts.filter(pl.col("outcome").is_null()).select(cols)
    if closed.is_empty() or open_.is_empty():
        return pl.DataFrame(schema=SIMILAR_SCHEMA)
    latest = closed.sort(["closed_at", "pursuit_id"], descending=True)
    pairs = []
    for key in _SIMILAR_KEYS:
        top = latest.drop_nulls(list(key)).group_by(list(key), maintain_order=True).head(SIMILAR_PER_PURSUIT)
        joined = open_.drop_nulls(list(key)).join(top, on=list(key), how="inner", suffix="_past")
        pairs.append(
            joined.select(pl.col("pursuit_id"), pl.col("pursuit_id_past").alias("similar_pursuit_id"))
        )
    candidates = (
        pl.concat(pairs)
        .unique()
        .join(open_, on="pursuit_id")
        .join(
            closed.rename({c: f"{c}_past" for c in cols[1:]}),
            left_on="similar_pursuit_id",
            right_on="pursuit_id",
        )
        .with_columns(
            *[
                (pl.col(c).is_not_null() & (pl.col(c) == pl.col(f"{c}_past"))).fill_null(False).alias(flag)
                for c, flag in (
                    ("client_id", "same_client"),
                    ("industry", "same_industry"),
                    ("value_band", "same_value_band"),
                )
            ]
        )
        .with_columns(
            (
                4 * pl.col("same_client").cast(pl.Int32)
                + 2 * pl.col("same_industry").cast(pl.Int32)
                + pl.col("same_value_band").cast(pl.Int32)
            ).alias("points")
        )
        .sort(
            ["pursuit_id", "points", "closed_at", "similar_pursuit_id"], descending=[False, True, True, True]
        )
        .group_by("pursuit_id", maintain_order=True)
        .head(SIMILAR_PER_PURSUIT)
        .with_columns(
            pl.lit(org_id).alias("org_id"),
            (pl.int_range(pl.len()).over("pursuit_id") + 1).cast(pl.Int32).alias("similar_rank"),
        )
    )
    return candidates.select(list(SIMILAR_SCHEMA)).cast(SIMILAR_SCHEMA)  # type: ignore[arg-type]
