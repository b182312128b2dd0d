"""Win scoring per org: a regularised logistic regression a reviewer can read, or a stated prior scorecard.

Each org is scored from its own closed pursuits only: an org with fewer than `MIN_CLOSED` of them (or
without both outcomes among them) gets the prior scorecard below, never a model trained on other orgs'
outcomes. The model is checked before it is trusted: a copy fitted on the time-ordered first 75 % of the
closed pursuits scores the last 25 % (`score_calibration`, `score_reliability`); the served model is then
refitted on all of them. Same inputs, same outputs: inputs are sorted and the solver is deterministic.

A score is a sum of log-odds: the org's average pursuit plus one contribution per component (features
centred on the org's average), so the components say how far, and which way, each part moves the score.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from importlib import metadata
from typing import TYPE_CHECKING

import numpy as np
import polars as pl
from threadpoolctl import threadpool_limits

from .features import COMPONENTS, FEATURES, OPEN_STAGES, model_matrix

if TYPE_CHECKING:
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

MIN_CLOSED = 40  # below this many closed pursuits an org is scored by the prior scorecard
MIN_EACH_OUTCOME = 5  # and both outcomes must appear this often among the training pursuits
HOLDOUT_SHARE = 0.25
# Candidate inverse regularisation strengths on standardised features, strongest first, and candidate
# L1 shares of the penalty (elastic net: 0 is L2 alone, 1 is L1 alone). Each fit picks a pair by
# time-ordered cross-validation on the pursuits it trains on (`choose_c`): how much of an org's noise
# a model can afford depends on how many pursuits it has and how strong its real effects are, which no
# single constant gets right for every org. Near the strong end the model is the org's base rate; an
# L1 share sets the weight of a component without effect to exactly zero instead of merely shrinking
# it, so it cannot move a held-out score by chance.
C_GRID = (0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0)
L1_RATIOS = (0.0, 0.5, 1.0)
CV_FOLDS = 4  # expanding-window folds: fit on the earlier closes, test on the next block
# The regularisation is chosen on an org's first closed pursuits (in close order), as many as the largest
# step of a ladder (MIN_CLOSED, then ×CHOICE_STEP each) not above their number: choosing it fits the
# model 84 times over, so it is done again when the closed pursuits have grown by a quarter, not on every
# close (each step's choice is kept, by a digest of its rows). The model is still fitted on all of them.
CHOICE_STEP = 1.25
RELIABILITY_BINS = 5
PRIOR_VERSION = "prior-1"

# The prior scorecard: fixed log-odds per feature, on top of the org's own smoothed win rate. Stated, not
# learned, so an org with little history gets a score a reviewer can check by hand (docs/scoring.md).
PRIOR_WEIGHTS: dict[str, float] = {
    "stage_pink": 0.3,
    "stage_red": 0.6,
    "stage_submit": 0.9,
    "checklist_done_share": 1.0,
    "response_hours_log": -0.2,
    "risk_mitigations": 0.4,
    "open_risks": -0.2,
    "client_win_rate": 1.0,
}
# ... applied to the difference from these reference values (a pursuit at them scores the base rate).
PRIOR_REFERENCE: dict[str, float] = {
    "stage_pink": 0.0,
    "stage_red": 0.0,
    "stage_submit": 0.0,
    "checklist_done_share": 0.5,
    "response_hours_log": math.log1p(24.0),
}


# What a fit depends on besides its rows: a change to any of these makes every stored fit stale.
FIT_SETTINGS = "|".join(
    [
        "saga",
        str(C_GRID),
        str(L1_RATIOS),
        str(CV_FOLDS),
        *FEATURES,
        # The solver's and the arrays' code: another release may round a fit differently.
        *(f"{lib} {metadata.version(lib)}" for lib in ("scikit-learn", "numpy", "scipy")),
    ]
)


Penalty = tuple[float, float]  # (C, l1_ratio)


def choice_size(n: int) -> int:
    """How many of `n` closed pursuits (the first, in close order) choose the regularisation: the
    largest step of the ladder MIN_CLOSED, ⌈×CHOICE_STEP⌉, … not above `n` (all of them below its first)."""
    if n <= MIN_CLOSED:
        return n
    m = MIN_CLOSED
    while (step := math.ceil(m * CHOICE_STEP)) <= n:
        m = step
    return m


@dataclass
class FitStore:
    """Fits already made, by a digest of exactly what they were fitted on (rows, outcomes, close order).

    Choosing the regularisation refits the model many times over, and the fits of an org whose closed
    pursuits did not change since the last run would come out the same (the solver is seeded): so a
    fit is looked up by its inputs' digest and made only when no stored fit has that digest. The scores
    are then the same as a refit's, bit for bit. `used` holds the fits this run needed (what to keep).
    """

    known: dict[str, tuple[float, np.ndarray, np.ndarray]] = field(default_factory=dict)
    used: dict[str, tuple[float, np.ndarray, np.ndarray]] = field(default_factory=dict)
    fitted: int = 0  # fits made this run (not found in `known`)
    # The regularisation chosen on a ladder step's rows (`choose_penalty`), the same way.
    choices: dict[str, Penalty] = field(default_factory=dict)
    choices_used: dict[str, Penalty] = field(default_factory=dict)
    chosen: int = 0  # choices made this run (not found in `choices`)

    @staticmethod
    def digest(x: np.ndarray, won: np.ndarray, position: np.ndarray, extra: str = "") -> str:
        h = hashlib.sha256(f"{FIT_SETTINGS}|{CHOICE_STEP}|{extra}".encode())
        for part in (x, won, position):
            a = np.ascontiguousarray(part)
            h.update(f"{a.dtype}{a.shape};".encode())
            h.update(a.tobytes())
        return h.hexdigest()


@dataclass(frozen=True)
class OrgScores:
    """What one org's scoring produced: the table rows, as polars frames."""

    scores: pl.DataFrame
    calibration: pl.DataFrame
    reliability: pl.DataFrame


def _logit(p: float) -> float:
    p = min(max(p, 1e-6), 1 - 1e-6)
    return math.log(p / (1 - p))


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def with_pace(facts: pl.DataFrame, reference: pl.DataFrame | None = None) -> pl.DataFrame:
    """Add `pace_log_ratio`: days the pursuit took to reach its stage against the closed median.

    The median is that of the closed pursuits among `reference` (default: `facts` itself).
    """
    closed = (facts if reference is None else reference).filter(pl.col("outcome").is_not_null())
    medians = closed.group_by("last_open_stage").agg(pl.col("days_to_stage").median().alias("median_days"))
    return facts.join(medians, on="last_open_stage", how="left").with_columns(
        ((pl.col("days_to_stage") + 0.5) / (pl.col("median_days").fill_null(pl.col("days_to_stage")) + 0.5))
        .log()
        .alias("pace_log_ratio")
    )


def feature_matrix(facts: pl.DataFrame) -> np.ndarray:
    m = model_matrix(facts).with_columns(facts["pace_log_ratio"].fill_null(0.0).alias("pace_log_ratio"))
    return m.select(FEATURES).to_numpy().astype(float)


@dataclass
class Fitted:
    """A fitted scorer: log-odds = intercept + Σ weights · (x − centre)."""

    intercept: float
    weights: np.ndarray
    centre: np.ndarray
    version: str

    def contributions(self, x: np.ndarray) -> np.ndarray:
        return (x - self.centre) * self.weights

    def probability(self, x: np.ndarray) -> np.ndarray:
        return _sigmoid(self.intercept + self.contributions(x).sum(axis=1))


def _fit(x: np.ndarray, won: np.ndarray, penalty: Penalty) -> tuple[StandardScaler, LogisticRegression]:
    # Imported here, not with the module: an org below `MIN_CLOSED` (every small home) is scored by the
    # prior scorecard, and a run that fits nothing should not pay for loading scikit-learn and SciPy.
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    c, l1_ratio = penalty
    scaler = StandardScaler().fit(x)
    # saga: the solver that takes an elastic net and leaves the intercept unpenalised; seeded, so the
    # same rows give the same weights.
    lr = LogisticRegression(C=c, l1_ratio=l1_ratio, solver="saga", max_iter=5000, random_state=0)
    return scaler, lr.fit(scaler.transform(x), won)


PENALTIES: tuple[Penalty, ...] = tuple((c, r) for c in C_GRID for r in L1_RATIOS)


def choose_c(x: np.ndarray, won: np.ndarray, position: np.ndarray) -> Penalty:
    """The regularisation (C and L1 share) that best predicted later closes from earlier ones, within
    these rows only.

    `position` is each row's pursuit's place in close order. The pursuits are cut into `CV_FOLDS + 1`
    blocks by close; fold k fits on blocks 1..k and scores the rows of block k + 1 (as the holdout
    does: never a later close to predict an earlier one). The pair with the lowest pooled Brier score
    wins; ties go to the stronger regularisation (then to the smaller L1 share).
    """
    n = int(position.max()) + 1 if len(position) else 0
    edges = [round(n * i / (CV_FOLDS + 1)) for i in range(CV_FOLDS + 2)]
    folds = []
    for k in range(1, CV_FOLDS + 1):
        fit_rows = position < edges[k]
        test_rows = (position >= edges[k]) & (position < edges[k + 1])
        if test_rows.any() and 0 < won[fit_rows].sum() < fit_rows.sum():
            folds.append((fit_rows, test_rows))
    if not folds:
        return PENALTIES[0]
    best, best_score = PENALTIES[0], math.inf
    for c in PENALTIES:
        errors = []
        for fit_rows, test_rows in folds:
            scaler, lr = _fit(x[fit_rows], won[fit_rows], c)
            p = lr.predict_proba(scaler.transform(x[test_rows]))[:, 1]
            errors.append((p - won[test_rows]) ** 2)
        score = float(np.concatenate(errors).mean())
        if score < best_score:
            best, best_score = c, score
    return best


def choose_penalty(rows: pl.DataFrame, store: FitStore | None = None) -> Penalty:
    """The regularisation for a model of these closed pursuits' rows (sorted, not yet paced): `choose_c`
    on the first `choice_size` of them in close order, paced against themselves (so their features do
    not move with later closes); a choice on the very same rows found in `store` is reused."""
    position = close_position(rows)
    n = int(position.max()) + 1 if len(position) else 0
    first = with_pace(rows.filter(pl.Series(position < choice_size(n))))
    x, won, pos = feature_matrix(first), _won(first), close_position(first)
    key = FitStore.digest(x, won, pos, "choice") if store is not None else ""
    if store is not None and key in store.choices:
        penalty = store.choices[key]
    else:
        penalty = choose_c(x, won, pos)
        if store is not None:
            store.chosen += 1
    if store is not None:
        store.choices_used[key] = penalty
    return penalty


def fit_model(
    x: np.ndarray,
    won: np.ndarray,
    version: str,
    position: np.ndarray,
    store: FitStore | None = None,
    penalty: Penalty | None = None,
) -> Fitted:
    """Fit on these rows with `penalty` (default: the one `choose_c` picks from them; `position`: see
    there); a fit of the very same inputs found in `store` is reused instead of made again."""
    if penalty is None:
        penalty = choose_c(x, won, position)
    key = FitStore.digest(x, won, position, repr(penalty)) if store is not None else ""
    if store is not None and key in store.known:
        intercept, weights, centre = store.known[key]
    else:
        scaler, lr = _fit(x, won, penalty)
        scale = np.where(scaler.scale_ > 0, scaler.scale_, 1.0)
        weights = lr.coef_[0] / scale  # back to the features' own units, centred on the org's average
        intercept, centre = float(lr.intercept_[0]), scaler.mean_.copy()
        if store is not None:
            store.fitted += 1
    if store is not None:
        store.used[key] = (intercept, weights, centre)
    return Fitted(intercept, weights, centre, version)


def prior_scorer(won: np.ndarray) -> Fitted:
    """The prior scorecard around the org's own smoothed win rate (even odds with no history)."""
    base = (won.sum() + 1) / (len(won) + 2)
    weights = np.array([PRIOR_WEIGHTS.get(f, 0.0) for f in FEATURES])
    centre = np.array([PRIOR_REFERENCE.get(f, 0.0) for f in FEATURES])
    return Fitted(_logit(float(base)), weights, centre, PRIOR_VERSION)


def model_version(facts: pl.DataFrame) -> str:
    """`lr3-` and a digest of what the model learned from: the same data gives the same version."""
    h = hashlib.sha256("|".join(FEATURES).encode())
    for pid, outcome in facts.select("pursuit_id", "outcome").sort("pursuit_id").iter_rows():
        h.update(f"{pid}={outcome};".encode())
    return f"lr3-{h.hexdigest()[:12]}"


def _brier(p: np.ndarray, won: np.ndarray) -> float:
    return float(np.mean((p - won) ** 2)) if len(won) else float("nan")


def _trainable(won: np.ndarray) -> bool:
    return len(won) >= MIN_CLOSED and min(won.sum(), len(won) - won.sum()) >= MIN_EACH_OUTCOME


def training_rows(facts: pl.DataFrame) -> pl.DataFrame:
    """An org's closed pursuits' rows (one per open stage entered), with the pace against its history."""
    return with_pace(facts.sort("pursuit_id", "cutoff", "snap")).filter(pl.col("outcome").is_not_null())


def _closed_rows(facts: pl.DataFrame) -> pl.DataFrame:
    """The closed pursuits' rows, sorted as the models take them, not yet paced."""
    return facts.sort("pursuit_id", "cutoff", "snap").filter(pl.col("outcome").is_not_null())


def check_split(facts: pl.DataFrame, train_ids: set[str]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The checked model's training rows and the held-out rows, both paced against the training ones.

    Nothing of a held-out pursuit may shape the model that is checked on it: not its outcome, and not
    its features either (the org's median pace is taken over the training pursuits only).
    """
    raw = _closed_rows(facts)
    train = raw.filter(pl.col("pursuit_id").is_in(train_ids))
    holdout = raw.filter(~pl.col("pursuit_id").is_in(train_ids))
    return with_pace(train), with_pace(holdout, reference=train)


def _close_order(facts: pl.DataFrame) -> tuple[pl.DataFrame, int, bool]:
    """The org's closed pursuits in close order, how many of the first train the checked model, and
    whether they are enough to train one (else the prior scorecard)."""
    order = facts.filter(pl.col("outcome").is_not_null() & pl.col("is_last")).sort("closed_at", "pursuit_id")
    won = (order["outcome"] == "won").to_numpy().astype(float)
    n_train = int(math.floor(len(order) * (1 - HOLDOUT_SHARE)))
    train_won = won[:n_train]
    enough = _trainable(won) and min(train_won.sum(), n_train - train_won.sum()) >= MIN_EACH_OUTCOME
    return order, n_train, enough


def _check(
    raw: pl.DataFrame, order: pl.DataFrame, n_train: int, version: str, store: FitStore | None = None
) -> pl.DataFrame:
    """The checked model's score for every open-stage entry of the held-out pursuits, beside the
    training win rate (what the base rate predicts) and the outcome."""
    train_ids = set(order["pursuit_id"][:n_train].to_list())
    train, holdout = check_split(raw, train_ids)
    penalty = choose_penalty(_closed_rows(raw).filter(pl.col("pursuit_id").is_in(train_ids)), store)
    check = fit_model(feature_matrix(train), _won(train), version, close_position(train), store, penalty)
    base_rate = float((order["outcome"][:n_train] == "won").mean())
    return pl.DataFrame(
        {
            "pursuit_id": holdout["pursuit_id"],
            "last_open_stage": holdout["last_open_stage"],
            "predicted": check.probability(feature_matrix(holdout)),
            "base_rate": np.full(len(holdout), base_rate),
            "won": _won(holdout),
        }
    )


def held_out_scores(facts: pl.DataFrame) -> pl.DataFrame | None:
    """One org's calibration check, row by row (None when the org gets the prior scorecard): what
    `score_calibration` summarises, for a reader who wants its spread, not only its mean."""
    order, n_train, enough = _close_order(facts)
    if not enough:
        return None
    with threadpool_limits(limits=1):
        return _check(facts, order, n_train, model_version(order))


def score_org(org_id: str, facts: pl.DataFrame, store: FitStore | None = None) -> OrgScores:
    """Score one org's open pursuits from its own closed ones (`facts`: its rows of `read_pursuit_facts`);
    fits found in `store` are reused (the same scores as refitting)."""
    raw = facts
    facts = with_pace(facts.sort("pursuit_id", "cutoff", "snap"))
    closed = facts.filter(pl.col("outcome").is_not_null())
    open_ = facts.filter(pl.col("outcome").is_null() & pl.col("is_last"))
    # Time order of the closed pursuits (by close): the first 75 % fit the checked model, the rest test it.
    order, n_train, enough = _close_order(facts)
    won_by_pursuit = (order["outcome"] == "won").to_numpy().astype(float)
    if enough:
        version = model_version(order)
        # Every stage entry of a held-out pursuit is a score the model would have given at that time.
        held = _check(raw, order, n_train, version, store)
        hold_won, hold_p = held["won"].to_numpy(), held["predicted"].to_numpy()
        base_rate = float(won_by_pursuit[:n_train].mean())
        penalty = choose_penalty(_closed_rows(raw), store)
        scorer = fit_model(
            feature_matrix(closed), _won(closed), version, close_position(closed), store, penalty
        )
        scorer_kind, n_tr = "model", n_train
    else:
        scorer = prior_scorer(won_by_pursuit)
        hold_won = _won(closed)
        hold_p = scorer.probability(feature_matrix(closed)) if len(closed) else np.array([])
        base_rate = float(won_by_pursuit.mean()) if len(order) else 0.5
        scorer_kind, n_tr = "prior", 0
    calibration = pl.DataFrame(
        {
            "org_id": [org_id],
            "model_version": [scorer.version],
            "scorer": [scorer_kind],
            "brier_model": [_brier(hold_p, hold_won) if len(hold_won) else None],
            "brier_base_rate": [
                _brier(np.full(len(hold_won), base_rate), hold_won) if len(hold_won) else None
            ],
            "base_rate": [base_rate],
            "n_train": [n_tr],
            "n_holdout": [len(order) - n_tr],
            "n_closed": [len(order)],
        },
        schema=CALIBRATION_SCHEMA,
    )
    return OrgScores(
        _score_rows(org_id, open_, scorer, scorer_kind, len(order)),
        calibration,
        _reliability(org_id, scorer.version, hold_p, hold_won),
    )


def close_position(rows: pl.DataFrame) -> np.ndarray:
    """Each row's pursuit's place (from 0) in the close order of the pursuits among `rows`."""
    key = pl.struct(pl.col("closed_at"), pl.col("pursuit_id")).rank("dense") - 1
    return rows.select(key.alias("position"))["position"].to_numpy().astype(int)


def _won(rows: pl.DataFrame) -> np.ndarray:
    return (rows["outcome"] == "won").to_numpy().astype(float)


def _reliability(org_id: str, version: str, p: np.ndarray, won: np.ndarray) -> pl.DataFrame:
    rows = []
    edges = np.linspace(0.0, 1.0, RELIABILITY_BINS + 1)
    for i in range(RELIABILITY_BINS):
        inside = (p >= edges[i]) & ((p < edges[i + 1]) | (i == RELIABILITY_BINS - 1))
        if inside.any():
            rows.append(
                {
                    "org_id": org_id,
                    "model_version": version,
                    "bin": i + 1,
                    "p_low": float(edges[i]),
                    "p_high": float(edges[i + 1]),
                    "scores": int(inside.sum()),
                    "mean_predicted": float(p[inside].mean()),
                    "observed_win_rate": float(won[inside].mean()),
                }
            )
    return pl.DataFrame(rows, schema=RELIABILITY_SCHEMA)


CALIBRATION_SCHEMA = {
    "org_id": pl.Utf8,
    "model_version": pl.Utf8,
    "scorer": pl.Utf8,
    "brier_model": pl.Float64,
    "brier_base_rate": pl.Float64,
    "base_rate": pl.Float64,
    "n_train": pl.Int64,
    "n_holdout": pl.Int64,
    "n_closed": pl.Int64,
}
RELIABILITY_SCHEMA = {
    "org_id": pl.Utf8,
    "model_version": pl.Utf8,
    "bin": pl.Int32,
    "p_low": pl.Float64,
    "p_high": pl.Float64,
    "scores": pl.Int64,
    "mean_predicted": pl.Float64,
    "observed_win_rate": pl.Float64,
}
CONTRIBUTION_COLUMNS = tuple(f"{c}_contribution" for c in COMPONENTS)
SCORE_SCHEMA = {
    "org_id": pl.Utf8,
    "pursuit_id": pl.Utf8,
    "win_probability": pl.Float64,
    "model_version": pl.Utf8,
    "why": pl.Utf8,
    **{c: pl.Float64 for c in CONTRIBUTION_COLUMNS},
}


def _score_rows(org_id: str, open_: pl.DataFrame, scorer: Fitted, kind: str, n_closed: int) -> pl.DataFrame:
    if open_.is_empty():
        return pl.DataFrame(schema=SCORE_SCHEMA)
    x = feature_matrix(open_)
    parts = scorer.contributions(x)
    prob = scorer.probability(x)
    index = {f: i for i, f in enumerate(FEATURES)}
    by_component = {
        comp: parts[:, [index[f] for f in feats]].sum(axis=1) for comp, feats in COMPONENTS.items()
    }
    rows = []
    for r, facts in enumerate(open_.iter_rows(named=True)):
        comps = {comp: float(v[r]) for comp, v in by_component.items()}
        rows.append(
            {
                "org_id": org_id,
                "pursuit_id": facts["pursuit_id"],
                "win_probability": float(prob[r]),
                "model_version": scorer.version,
                "why": explain(float(prob[r]), comps, facts, kind, n_closed),
                **{f"{c}_contribution": v for c, v in comps.items()},
            }
        )
    return pl.DataFrame(rows, schema=SCORE_SCHEMA)


def _phrase(component: str, f: dict) -> str:
    """The component in words, from the pursuit's own facts."""
    if component == "stage":
        return f"entered {f['last_open_stage']}"
    if component == "age_in_stage":
        return f"reached {f['last_open_stage']} after {f['days_to_stage']:.0f} days"
    if component == "checklist":
        total = (f["pink_total"] or 0) + (f["red_total"] or 0)
        return f"{len(f['done_items'] or [])} of {total} checklist items done"
    if component == "sla_record":
        h = f["response_hours"]
        return "no first response yet" if h is None else f"first response after {h:.1f} h"
    if component == "engagement_recency":
        return f"{f['quiet_days']:.0f} days quiet before the stage"
    if component == "value_band":
        return f"{f['value_band'] or 'no'} value band"
    if component == "client_history":
        return f"client won {f['client_won']} of {f['client_closed']} before"
    if component == "memory":
        if f["risk_mitigations"]:
            return f"{f['risk_mitigations']} risk mitigation(s) in memory"
        if f["open_risks"]:
            return f"{f['open_risks']} open risk(s) and no risk mitigation in memory"
        return "no risk mitigation in memory"
    return f"lead came by {f['lead_source'] or 'unknown'}"


def explain(prob: float, comps: dict[str, float], facts: dict, kind: str, n_closed: int) -> str:
    """Plain language: the chance, what it rests on, the two parts that help and hurt most."""
    basis = (
        f"learned from this org's {n_closed} closed pursuits"
        if kind == "model"
        else f"prior scorecard: only {n_closed} closed pursuits, too few to learn from"
    )
    ranked = sorted(comps.items(), key=lambda kv: (-abs(kv[1]), kv[0]))
    helps = [f"{_phrase(c, facts)} ({v:+.2f})" for c, v in ranked if v >= 0.05][:2]
    hurts = [f"{_phrase(c, facts)} ({v:+.2f})" for c, v in ranked if v <= -0.05][:2]
    parts = [f"{round(prob * 100)} % chance to win ({basis})."]
    if helps:
        parts.append("Helps: " + "; ".join(helps) + ".")
    if hurts:
        parts.append("Hurts: " + "; ".join(hurts) + ".")
    return " ".join(parts)


def score_all(facts: pl.DataFrame, store: FitStore | None = None) -> OrgScores:
    """Every org's scores, calibration and reliability rows (orgs in order, each on its own data)."""
    # One thread: the fits are small, and BLAS/OpenMP threads spinning on a shared machine make
    # each of them many times slower than running it alone.
    with threadpool_limits(limits=1):
        out = [
            score_org(org, part, store)
            for (org,), part in facts.sort("org_id").group_by("org_id", maintain_order=True)
        ]
    if not out:
        return OrgScores(
            pl.DataFrame(schema=SCORE_SCHEMA),
            pl.DataFrame(schema=CALIBRATION_SCHEMA),
            pl.DataFrame(schema=RELIABILITY_SCHEMA),
        )
    return OrgScores(
        pl.concat([o.scores for o in out]),
        pl.concat([o.calibration for o in out]),
        pl.concat([o.reliability for o in out]),
    )


__all__ = ["MIN_CLOSED", "OPEN_STAGES", "FitStore", "OrgScores", "held_out_scores", "score_all", "score_org"]
