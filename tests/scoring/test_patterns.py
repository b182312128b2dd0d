"""Win patterns find the generator's planted effects and nothing where it planted none."""

from __future__ import annotations

from pathlib import Path

import duckdb
import polars as pl
import pytest

from dagster_project.scoring.features import read_pursuit_facts
from dagster_project.scoring.patterns import lift_interval, submitted, wording


def test_the_planted_effects_are_found_as_patterns_that_raise_the_win_rate(tables) -> None:
    found = {r["attribute"]: r for r in tables["win_patterns"].to_dicts()}
    for attribute in ("memory_tag:risk-mitigation", "response:within_4h"):
        assert attribute in found, sorted(found)
        row = found[attribute]
        assert row["lift_ci_low"] > 1 and row["win_rate_with"] > row["win_rate_without"]
        assert row["pattern"].startswith("win rate is ") and " % higher when " in row["pattern"]


def test_a_referral_raises_the_win_rate_and_is_never_published_the_other_way(
    demo_warehouse: Path, tables
) -> None:
    # A referral is rare (a tenth of the inquiries) and its uplift the smallest: on this one org's
    # ninety or so submitted referrals its family-wise 95 % interval excludes 1.0 in most samples but
    # not in every one, so the test asks for the direction, and for a published pattern to say it.
    con = duckdb.connect(str(demo_warehouse), read_only=True)
    try:
        facts = read_pursuit_facts(con)
    finally:
        con.close()
    decided = submitted(facts.filter(pl.col("is_last")))
    won = pl.col("outcome") == "won"
    referral = pl.col("lead_source") == "referral"
    rate_with = decided.filter(referral).select(won.mean()).item()
    rate_without = decided.filter(~referral).select(won.mean()).item()
    assert rate_with > rate_without
    rows = {r["attribute"]: r for r in tables["win_patterns"].to_dicts()}
    if "lead_source:referral" in rows:
        row = rows["lead_source:referral"]
        assert row["lift_ci_low"] > 1 and " % higher when " in row["pattern"]


def test_an_attribute_without_effect_is_not_published(tables) -> None:
    found = set(tables["win_patterns"]["attribute"])
    assert not {a for a in found if a.startswith("value_band:")}


def test_published_patterns_have_support_on_both_sides_and_an_interval_that_excludes_one(tables) -> None:
    patterns = tables["win_patterns"]
    assert patterns.height > 0
    assert (patterns["support_with"] >= 20).all() and (patterns["support_without"] >= 20).all()
    assert ((patterns["lift_ci_low"] > 1) | (patterns["lift_ci_high"] < 1)).all()
    assert patterns["pattern"].is_unique().all()


def test_the_lift_interval_widens_with_less_data_and_the_wording_says_which_way() -> None:
    lift, low, high = lift_interval(60, 100, 40, 100, 1.96)
    assert lift == pytest.approx(1.5) and low < 1.5 < high
    _, low_small, high_small = lift_interval(6, 10, 4, 10, 1.96)
    assert low_small < low and high_small > high
    assert wording(1.234, "x") == "win rate is 23 % higher when x"
    assert wording(0.8, "y") == "win rate is 20 % lower when y"


def test_similar_past_pursuits_rank_the_same_client_first(tables) -> None:
    similar = tables["similar_pursuits"]
    assert similar.height > 0
    assert similar.group_by("pursuit_id").len()["len"].max() <= 3
    assert set(similar["outcome"]) <= {"won", "lost"}
    for _, group in similar.sort("similar_rank").group_by("pursuit_id"):
        flags = group.select(pl.col("same_client", "same_industry", "same_value_band").cast(pl.Int32))
        points = (4 * flags["same_client"] + 2 * flags["same_industry"] + flags["same_value_band"]).to_list()
        assert points == sorted(points, reverse=True) and min(points) > 0


def _similar_by_brute_force(facts: pl.DataFrame) -> list[tuple[str, int, str]]:
    """Every open pursuit against every closed one: the definition, at its full cost."""
    latest = facts.filter(pl.col("is_last"))
    closed = sorted(
        (r for r in latest.iter_rows(named=True) if r["outcome"] is not None),
        key=lambda r: (r["closed_at"], r["pursuit_id"]),
        reverse=True,
    )
    out = []
    for row in latest.filter(pl.col("outcome").is_null()).iter_rows(named=True):

        def points(c: dict, row: dict = row) -> int:
            same = [row[k] is not None and c[k] == row[k] for k in ("client_id", "industry", "value_band")]
            return 4 * same[0] + 2 * same[1] + same[2]

        ranked = sorted(enumerate(closed), key=lambda ic: (-points(ic[1]), ic[0]))
        best = [c for _, c in ranked[:3] if points(c) > 0]
        out += [(row["pursuit_id"], rank, c["pursuit_id"]) for rank, c in enumerate(best, start=1)]
    return sorted(out)


def test_similar_pursuits_are_the_best_three_of_the_whole_history(demo_warehouse: Path, tables) -> None:
    con = duckdb.connect(str(demo_warehouse), read_only=True)
    try:
        facts = read_pursuit_facts(con)
    finally:
        con.close()
    got = sorted(tables["similar_pursuits"].select("pursuit_id", "similar_rank", "similar_pursuit_id").rows())
    assert got == _similar_by_brute_force(facts)
