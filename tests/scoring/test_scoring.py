"""Win scoring on demo-like data: it recovers the generator's effects and beats the base rate held out."""

from __future__ import annotations

import math
import shutil
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import polars as pl
import pytest

from dagster_project.scoring import model
from dagster_project.scoring import tables as scoring_tables
from dagster_project.scoring.features import FEATURES, read_pursuit_facts
from dagster_project.scoring.model import (
    HOLDOUT_SHARE,
    MIN_CLOSED,
    PRIOR_VERSION,
    check_split,
    choose_c,
    close_position,
    feature_matrix,
    fit_model,
    held_out_scores,
    score_all,
    training_rows,
)
from dagster_project.scoring.tables import SCORING_TABLES, read_fits, write_scoring


@pytest.fixture(scope="module")
def facts(demo_warehouse: Path) -> pl.DataFrame:
    con = duckdb.connect(str(demo_warehouse), read_only=True)
    try:
        return read_pursuit_facts(con)
    finally:
        con.close()


@pytest.fixture(scope="module")
def held(facts: pl.DataFrame) -> pl.DataFrame | None:
    """The checked model's scores of the held-out pursuits (`held_out_scores`), which two tests read."""
    return held_out_scores(facts)


def test_the_model_beats_the_base_rate_on_the_time_ordered_last_quarter(tables) -> None:
    cal = tables["score_calibration"].to_dicts()
    assert len(cal) == 1
    row = cal[0]
    assert row["scorer"] == "model" and row["model_version"].startswith("lr3-")
    assert row["n_train"] + row["n_holdout"] == row["n_closed"]
    assert row["n_holdout"] == row["n_closed"] - math.floor(row["n_closed"] * (1 - HOLDOUT_SHARE))
    assert row["brier_model"] < row["brier_base_rate"]


def brier_gain(held: pl.DataFrame) -> tuple[float, float]:
    """The model's Brier score minus the base rate's on these held-out rows, and its standard error.

    The rows of one pursuit (one per stage it entered) share an outcome, so the error is taken over
    pursuits, not rows (a cluster-robust standard error of a mean)."""
    d = (held["predicted"] - held["won"]) ** 2 - (held["base_rate"] - held["won"]) ** 2
    rows = held.select("pursuit_id").with_columns(d.alias("d"))
    mean = float(rows["d"].mean())
    per = rows.group_by("pursuit_id").agg(pl.col("d").sum().alias("total"), pl.len().alias("n"))
    se = math.sqrt(float(((per["total"] - mean * per["n"]) ** 2).sum())) / len(rows)
    return mean, se


def test_the_model_beats_the_base_rate_by_more_than_twice_the_standard_error(held, tables) -> None:
    # A lead of about one standard error is what a model without the effects gets by chance as often
    # as not; the generator states large effects, so a model that sees them is well clear of that.
    row = tables["score_calibration"].to_dicts()[0]
    assert held is not None and held["pursuit_id"].n_unique() == row["n_holdout"]
    # The table's two figures are these rows' means.
    assert row["brier_model"] == pytest.approx(float(((held["predicted"] - held["won"]) ** 2).mean()))
    assert row["brier_base_rate"] == pytest.approx(float(((held["base_rate"] - held["won"]) ** 2).mean()))
    gain, se = brier_gain(held)
    assert gain < -2 * se, (gain, se)


def test_the_model_is_ahead_at_every_stage_a_pursuit_is_scored(held) -> None:
    # Open pursuits are scored at whatever stage they are in: a lead won only on entering submit would
    # leave most scores on the Today page no better than the base rate.
    assert held is not None
    by_stage = held.group_by("last_open_stage").agg(
        ((pl.col("predicted") - pl.col("won")) ** 2).mean().alias("model"),
        ((pl.col("base_rate") - pl.col("won")) ** 2).mean().alias("base"),
    )
    assert set(by_stage["last_open_stage"]) == {"qual", "pink", "red", "submit"}
    for r in by_stage.iter_rows(named=True):
        assert r["model"] < r["base"] - 0.01, r


def test_the_learned_weights_point_the_way_of_the_generators_effects(facts) -> None:
    rows = training_rows(facts)
    won = (rows["outcome"] == "won").to_numpy()
    fitted = fit_model(feature_matrix(rows), won, "test", close_position(rows))
    weight = dict(zip(FEATURES, fitted.weights, strict=True))
    assert weight["risk_mitigations"] > 0.3  # a risk-mitigation note: +0.30 win chance
    assert weight["source_referral"] > 0.3  # a referral: +0.25
    assert weight["response_hours_log"] < 0  # a fast first response: +0.20


def test_reliability_bins_cover_the_held_out_scores(tables) -> None:
    bins = tables["score_reliability"]
    assert bins["bin"].is_sorted() and bins["bin"].is_unique().all()
    assert ((bins["mean_predicted"] >= bins["p_low"]) & (bins["mean_predicted"] <= bins["p_high"])).all()
    assert bins["scores"].sum() > tables["score_calibration"]["n_holdout"][0]  # a row per stage entry


def test_one_score_per_open_pursuit_and_its_components_add_up_to_its_log_odds(facts, tables) -> None:
    scores = tables["pursuit_scores"]
    open_ids = facts.filter(pl.col("outcome").is_null())["pursuit_id"].unique().sort()
    assert scores["pursuit_id"].sort().to_list() == open_ids.to_list()
    parts = scores.select(pl.col("^.*_contribution$")).to_numpy().sum(axis=1)
    p = scores["win_probability"].to_numpy()
    intercepts = np.log(p / (1 - p)) - parts
    assert np.allclose(intercepts, intercepts[0])  # the org's average pursuit, the same for every row
    assert all(
        w.startswith(f"{round(x * 100)} % chance to win") for w, x in zip(scores["why"], p, strict=True)
    )


def test_the_same_data_scores_the_same(facts, tables) -> None:
    again = score_all(facts)
    assert again.scores.equals(tables["pursuit_scores"])
    assert again.calibration.equals(tables["score_calibration"])


def test_an_org_with_few_closed_pursuits_gets_the_prior_and_never_another_orgs_outcomes(facts) -> None:
    closed_ids = (
        facts.filter(pl.col("outcome").is_not_null())["pursuit_id"].unique().sort()[: MIN_CLOSED // 2]
    )
    small = facts.filter(pl.col("outcome").is_null() | pl.col("pursuit_id").is_in(closed_ids.to_list()))
    small = small.with_columns(pl.lit("tiny").alias("org_id"))
    flipped = facts.with_columns(
        pl.lit("big").alias("org_id"),
        pl.when(pl.col("outcome") == "won")
        .then(pl.lit("lost"))
        .otherwise(pl.col("outcome"))
        .alias("outcome"),
    )
    alone = score_all(small)
    beside = score_all(pl.concat([small, facts.with_columns(pl.lit("big").alias("org_id"))]))
    beside_flipped = score_all(pl.concat([small, flipped]))
    tiny = alone.calibration.to_dicts()[0]
    assert (tiny["scorer"], tiny["model_version"], tiny["n_train"]) == ("prior", PRIOR_VERSION, 0)
    assert alone.scores["why"].str.contains("prior scorecard").all()
    for other in (beside, beside_flipped):
        assert other.scores.filter(pl.col("org_id") == "tiny").equals(alone.scores)


def _scoring_tables(con: duckdb.DuckDBPyConnection) -> dict[str, pl.DataFrame]:
    return {t: con.execute(f"select * from scoring.{t} order by all").pl() for t in SCORING_TABLES}


def _as_the_apply_writes(con: duckdb.DuckDBPyConnection, org: str, pursuit_id: str) -> None:
    """Record the write of a pursuit's cluster as the apply does with every write of core rows (the log
    the scoring step reads to know which orgs changed)."""
    con.execute(
        """insert into core.cluster_changes
           select org_id, cluster_id, (select max(seq) + 1 from core.cluster_changes)
           from core.pursuits where org_id = ? and pursuit_id = ?""",
        [org, pursuit_id],
    )


def _counting_fits(monkeypatch: pytest.MonkeyPatch, fits: list[int]) -> None:
    """Count the model fits made (one `1` appended to `fits` per fit)."""
    real_fit = model._fit
    monkeypatch.setattr(model, "_fit", lambda *a: fits.append(1) or real_fit(*a))


@dataclass(frozen=True)
class Rewritten:
    """The scoring step run twice on a copy of the demo warehouse, and what each run left."""

    first: dict[str, int]  # rows written per table by the first run (and its `fits_made`)
    second: dict[str, int]
    first_fits: int  # model fits made by the first run
    fits: int  # by both runs
    first_tables: dict[str, pl.DataFrame]  # the scoring tables after each run
    again_tables: dict[str, pl.DataFrame]
    after_first: Path  # the warehouse as the first run left it
    after_second: Path


@pytest.fixture(scope="module")
def rewritten(demo_warehouse: Path, tmp_path_factory: pytest.TempPathFactory) -> Rewritten:
    """The first and second run of the scoring step on one copy of the demo warehouse, which three
    tests start from: each of those that writes on copies of the files kept here."""
    folder = tmp_path_factory.mktemp("rewritten")
    after_first, after_second = folder / "first.duckdb", folder / "second.duckdb"
    shutil.copy(demo_warehouse, after_second)
    fits: list[int] = []
    with pytest.MonkeyPatch.context() as monkeypatch:
        _counting_fits(monkeypatch, fits)
        con = duckdb.connect(str(after_second))
        try:
            first = write_scoring(con)
            first_tables, first_fits = _scoring_tables(con), len(fits)
        finally:
            con.close()
        shutil.copy(after_second, after_first)
        con = duckdb.connect(str(after_second))
        try:
            second = write_scoring(con, rescore=True)  # scored again though unchanged: the fits are reused
            again_tables = _scoring_tables(con)
        finally:
            con.close()
    return Rewritten(
        first, second, first_fits, len(fits), first_tables, again_tables, after_first, after_second
    )


def test_the_scoring_step_replaces_its_tables_whole(rewritten: Rewritten) -> None:
    first, second = rewritten.first, rewritten.second
    assert all(first[t] == second[t] for t in SCORING_TABLES) and first["pursuit_scores"] > 0
    con = duckdb.connect(str(rewritten.after_second), read_only=True)
    try:
        for name in SCORING_TABLES:
            assert con.execute(f"select count(*) from scoring.{name}").fetchone()[0] == first[name]
    finally:
        con.close()


def test_a_run_with_no_new_outcome_reuses_the_fits_and_scores_the_same(
    rewritten: Rewritten, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, first_fits = rewritten.first_tables, rewritten.first_fits
    assert first_fits > 0 and rewritten.fits == first_fits, "the second run refitted"
    again = rewritten.again_tables
    for name in SCORING_TABLES:
        assert again[name].equals(first[name]), name
    fits = [1] * rewritten.fits  # the count goes on from the module's two runs
    _counting_fits(monkeypatch, fits)
    con = duckdb.connect(str(shutil.copy(rewritten.after_second, tmp_path / "warehouse.duckdb")))
    try:
        # Without the kept fits, the kept regularisation choices: the two models fitted again, alone.
        con.execute("delete from scoring.model_fits")
        write_scoring(con)
        assert len(fits) == first_fits + 2
        for name in SCORING_TABLES:
            assert _scoring_tables(con)[name].equals(first[name]), name
        # Without either, the same tables come out of choosing and fitting again.
        con.execute("delete from scoring.model_fits")
        con.execute("delete from scoring.penalty_choices")
        write_scoring(con)
        assert len(fits) == 2 * first_fits + 2
        for name in SCORING_TABLES:
            assert _scoring_tables(con)[name].equals(first[name]), name
    finally:
        con.close()


def test_an_org_no_core_write_reached_keeps_its_rows_and_fits_until_the_scoring_code_changes(
    rewritten: Rewritten, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fits: list[int] = []
    _counting_fits(monkeypatch, fits)
    con = duckdb.connect(str(shutil.copy(rewritten.after_second, tmp_path / "warehouse.duckdb")))
    try:
        kept_fits = con.execute("select * from scoring.model_fits order by digest").fetchall()
        made = write_scoring(con)
        assert (made["orgs_scored"], made["orgs_kept"], made["fits_made"], made["choices_made"]) == (
            0,
            1,
            0,
            0,
        )
        assert con.execute("select * from scoring.model_fits order by digest").fetchall() == kept_fits
        for name in SCORING_TABLES:
            assert _scoring_tables(con)[name].equals(rewritten.first_tables[name]), name
        # Other scoring code: the org is scored again (its kept fits still serve: the fits' own inputs
        # did not change), to the same rows.
        monkeypatch.setattr(scoring_tables, "code_digest", lambda: "other code")
        made = write_scoring(con)
        assert (made["orgs_scored"], made["orgs_kept"], made["fits_made"]) == (1, 0, 0)
        assert not fits
        for name in SCORING_TABLES:
            assert _scoring_tables(con)[name].equals(rewritten.first_tables[name]), name
    finally:
        con.close()


def test_a_changed_outcome_refits_and_only_the_fits_in_use_are_kept(
    rewritten: Rewritten, tmp_path: Path
) -> None:
    con = duckdb.connect(str(shutil.copy(rewritten.after_first, tmp_path / "warehouse.duckdb")))
    try:
        kept = {r[0] for r in con.execute("select digest from scoring.model_fits").fetchall()}
        version = con.execute("select model_version from scoring.score_calibration").fetchone()[0]
        org, flip = con.execute(
            "select org_id, pursuit_id from core.pursuits where outcome is not null order by pursuit_id limit 1"
        ).fetchone()
        con.execute(
            "update core.pursuits set outcome = case outcome when 'won' then 'lost' else 'won' end "
            "where org_id = ? and pursuit_id = ?",
            [org, flip],
        )
        _as_the_apply_writes(con, org, flip)
        assert write_scoring(con)["fits_made"] == len(kept) == 2  # the checked and the served model
        now = {r[0] for r in con.execute("select digest from scoring.model_fits").fetchall()}
        assert len(now) == 2 and not now & kept
        assert con.execute("select model_version from scoring.score_calibration").fetchone()[0] != version
    finally:
        con.close()


def test_the_why_names_missing_risk_mitigation_in_words(tables) -> None:
    whys = tables["pursuit_scores"]["why"]
    assert not whys.str.contains("0 risk mitigation").any()
    assert whys.str.contains("no risk mitigation in memory").any()


def _synthetic(n: int, effect: float, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`n` pursuits in close order, one row each: ten noise features and one with `effect` log-odds."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 11))
    won = (rng.random(n) < 1 / (1 + np.exp(-effect * x[:, 0]))).astype(float)
    return x, won, np.arange(n)


def test_the_regularisation_is_chosen_from_the_training_pursuits_by_their_close_order() -> None:
    # Pure noise: the earlier closes predict the later ones best with the strongest regularisation
    # (the base rate); a strong real effect: with a weaker one, which lets the model use it.
    noise_c = choose_c(*_synthetic(300, 0.0, seed=1))
    signal_c = choose_c(*_synthetic(300, 2.0, seed=1))
    assert noise_c < signal_c
    x, won, position = _synthetic(300, 2.0, seed=1)
    fitted = fit_model(x, won, "test", position)
    assert abs(fitted.weights[0]) > 5 * np.abs(fitted.weights[1:]).max()


def test_a_feature_without_effect_can_get_a_weight_of_exactly_zero() -> None:
    # With an L1 share in the penalty, cross-validation can drop a component that only adds noise to
    # the held-out scores; an L2 penalty alone only ever shrinks it.
    for seed in (1, 2, 3):
        x, won, position = _synthetic(300, 2.0, seed=seed)
        fitted = fit_model(x, won, "test", position)
        assert abs(fitted.weights[0]) > 1.0
        assert (fitted.weights[1:] == 0).any(), (seed, fitted.weights)


def test_the_held_out_pursuits_do_not_shape_the_checked_models_features(facts) -> None:
    org = facts.filter(pl.col("outcome").is_not_null())
    order = org.filter(pl.col("is_last")).sort("closed_at", "pursuit_id")["pursuit_id"].to_list()
    train_ids = set(order[: math.floor(len(order) * (1 - HOLDOUT_SHARE))])
    slower = facts.with_columns(
        pl.when(pl.col("pursuit_id").is_in(train_ids) | pl.col("outcome").is_null())
        .then(pl.col("days_to_stage"))
        .otherwise(pl.col("days_to_stage") * 10)
        .alias("days_to_stage")
    )
    train, holdout = check_split(facts, train_ids)
    train_slower, holdout_slower = check_split(slower, train_ids)
    assert train.equals(train_slower)  # the org's median pace comes from the training pursuits alone
    assert not holdout.equals(holdout_slower)  # while the held-out rows' own pace is theirs


def test_kept_fits_are_read_from_the_warehouse_only_not_from_an_attached_database(tmp_path: Path) -> None:
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    try:
        con.execute(f"attach '{tmp_path / 'other.duckdb'}' as other")
        con.execute("create schema other.scoring")
        con.execute("create table other.scoring.model_fits (digest varchar, intercept double)")
        assert read_fits(con).known == {}
    finally:
        con.close()


def test_the_regularisation_is_chosen_again_only_at_each_step_of_the_ladder() -> None:
    assert [model.choice_size(n) for n in (0, 12, 40, 49, 50, 51, 62, 63, 300)] == [
        0,
        12,
        40,
        40,
        50,
        50,
        50,
        63,
        243,
    ]


def test_a_close_past_the_last_ladder_step_refits_the_served_model_without_choosing_again(
    rewritten: Rewritten, tmp_path: Path
) -> None:
    """The newest close is held out of the checked model and lies beyond the ladder step the served
    model's regularisation was chosen on: only the served model is fitted again."""
    con = duckdb.connect(str(shutil.copy(rewritten.after_first, tmp_path / "warehouse.duckdb")))
    try:
        org, scorer, n_closed = con.execute(
            "select org_id, scorer, n_closed from scoring.score_calibration "
            "where scorer = 'model' order by n_closed desc limit 1"
        ).fetchone()
        assert model.choice_size(n_closed) < n_closed, "the test needs an org between two ladder steps"
        flip = con.execute(
            "select pursuit_id from core.pursuits where org_id = ? and outcome is not null "
            "order by closed_at desc, pursuit_id desc limit 1",
            [org],
        ).fetchone()[0]
        con.execute(
            "update core.pursuits set outcome = case outcome when 'won' then 'lost' else 'won' end "
            "where org_id = ? and pursuit_id = ?",
            [org, flip],
        )
        _as_the_apply_writes(con, org, flip)
        made = write_scoring(con)
        assert (made["fits_made"], made["choices_made"]) == (1, 0)
    finally:
        con.close()
