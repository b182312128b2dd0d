"""The `scoring` schema of the warehouse: what the scoring step writes and dbt's scoring marts read.

The step runs after the apply (the core tables and `core.run_clock` are the run's) and before dbt, and
replaces every table whole in one transaction: scores are recomputed from scratch each run, so a
redaction or a late event is reflected at once. Only the model fits and the regularisation choices are
kept between runs (`scoring.model_fits` and `scoring.penalty_choices`, by a digest of exactly the rows
each was made from): an org whose closed pursuits did not change reuses its fits rather than refitting
them, with the same scores, and a choice is made again only when its rows change. Memory text is never copied here (the marts join the
memory atoms they need), so nothing erased can linger in these tables.
"""

from __future__ import annotations

import duckdb
import numpy as np
import polars as pl

from .features import read_pursuit_facts
from .model import CALIBRATION_SCHEMA, RELIABILITY_SCHEMA, SCORE_SCHEMA, FitStore, score_all
from .patterns import PATTERN_SCHEMA, SIMILAR_SCHEMA, similar_pursuits, submitted, win_patterns

_DUCK = {
    pl.Utf8: "varchar",
    pl.Float64: "double",
    pl.Int64: "bigint",
    pl.Int32: "integer",
    pl.Boolean: "boolean",
    pl.Datetime("us", "UTC"): "timestamptz",
}
SCHEMAS: dict[str, dict[str, pl.DataType]] = {
    "pursuit_scores": SCORE_SCHEMA,
    "score_calibration": CALIBRATION_SCHEMA,
    "score_reliability": RELIABILITY_SCHEMA,
    "win_patterns": PATTERN_SCHEMA,
    "similar_pursuits": SIMILAR_SCHEMA,
}
SCORING_TABLES = tuple(SCHEMAS)


def _ddl(name: str) -> str:
    cols = ",\n".join(f"    {c} {_DUCK[t]}" for c, t in SCHEMAS[name].items())
    return f"create table if not exists scoring.{name} (\n{cols}\n);"


FITS = "scoring.model_fits"
CHOICES = "scoring.penalty_choices"


def ensure_scoring_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create the (empty) scoring tables, so dbt can build on a warehouse no scoring step has run on."""
    con.execute("create schema if not exists scoring")
    for name in SCORING_TABLES:
        con.execute(_ddl(name))
    con.execute(
        f"create table if not exists {FITS} "
        "(digest varchar primary key, intercept double, weights double[], centre double[])"
    )
    con.execute(
        f"create table if not exists {CHOICES} (digest varchar primary key, c double, l1_ratio double)"
    )


def _exists(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    """Whether `scoring.<table>` is in this warehouse (not in an attached database)."""
    return bool(
        con.execute(
            "select count(*) from information_schema.tables where table_catalog = current_database() "
            "and table_schema = 'scoring' and table_name = ?",
            [table],
        ).fetchone()[0]
    )


def read_fits(con: duckdb.DuckDBPyConnection) -> FitStore:
    """The fits and regularisation choices the last scoring run kept (none on a warehouse without them)."""
    store = FitStore()
    if _exists(con, "model_fits"):
        rows = con.execute(f"select digest, intercept, weights, centre from {FITS}").fetchall()
        store.known = {d: (i, np.array(w, dtype=float), np.array(c, dtype=float)) for d, i, w, c in rows}
    if _exists(con, "penalty_choices"):
        rows = con.execute(f"select digest, c, l1_ratio from {CHOICES}").fetchall()
        store.choices = {d: (c, r) for d, c, r in rows}
    return store


def compute(con: duckdb.DuckDBPyConnection, store: FitStore | None = None) -> dict[str, pl.DataFrame]:
    """Every scoring table's rows, from the warehouse as of its run clock (read only); fits found in
    `store` are reused."""
    facts = read_pursuit_facts(con)
    scored = score_all(facts, store)
    patterns, similar = [], []
    latest = facts.filter(pl.col("is_last"))  # each pursuit as it entered its last open stage
    for (org,), part in latest.group_by("org_id", maintain_order=True):
        patterns.append(win_patterns(str(org), submitted(part)))
        similar.append(similar_pursuits(str(org), part))
    return {
        "pursuit_scores": scored.scores,
        "score_calibration": scored.calibration,
        "score_reliability": scored.reliability,
        "win_patterns": pl.concat(patterns) if patterns else pl.DataFrame(schema=PATTERN_SCHEMA),
        "similar_pursuits": pl.concat(similar) if similar else pl.DataFrame(schema=SIMILAR_SCHEMA),
    }


def write_scoring(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Recompute and replace every scoring table in one transaction; rows written per table (and
    `fits_made`: the model fits that were not found among the kept ones; `choices_made`: the same for
    the regularisation choices)."""
    ensure_scoring_schema(con)
    store = read_fits(con)
    tables = compute(con, store)
    fits = pl.DataFrame(
        {
            "digest": list(store.used),
            "intercept": [f[0] for f in store.used.values()],
            "weights": [f[1].tolist() for f in store.used.values()],
            "centre": [f[2].tolist() for f in store.used.values()],
        },
        schema={
            "digest": pl.Utf8,
            "intercept": pl.Float64,
            "weights": pl.List(pl.Float64),
            "centre": pl.List(pl.Float64),
        },
    )
    choices = pl.DataFrame(
        {
            "digest": list(store.choices_used),
            "c": [p[0] for p in store.choices_used.values()],
            "l1_ratio": [p[1] for p in store.choices_used.values()],
        },
        schema={"digest": pl.Utf8, "c": pl.Float64, "l1_ratio": pl.Float64},
    )
    con.execute("begin")
    try:
        for name, frame in tables.items():
            con.execute(f"delete from scoring.{name}")
            con.register("_scoring_rows", frame.select(list(SCHEMAS[name])).to_arrow())
            con.execute(f"insert into scoring.{name} select * from _scoring_rows")
            con.unregister("_scoring_rows")
        # Keep only the fits this run used: a stale one would never be looked up again.
        con.execute(f"delete from {FITS}")
        con.register("_scoring_fits", fits.to_arrow())
        con.execute(f"insert into {FITS} select * from _scoring_fits")
        con.unregister("_scoring_fits")
        con.execute(f"delete from {CHOICES}")
        con.register("_scoring_choices", choices.to_arrow())
        con.execute(f"insert into {CHOICES} select * from _scoring_choices")
        con.unregister("_scoring_choices")
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    return {
        **{name: frame.height for name, frame in tables.items()},
        "fits_made": store.fitted,
        "choices_made": store.chosen,
    }
