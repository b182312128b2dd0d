"""The `scoring` schema of the warehouse: what the scoring step writes and dbt's scoring marts read.

The step runs after the apply (the core tables and `core.run_clock` are the run's) and before dbt, and
replaces the tables' rows in one transaction. An org's rows are computed from scratch from its own
history, so a redaction or a late event is reflected at once; an org none of whose clusters the apply
has written since its rows were computed (`core.cluster_changes`, the log every core write leaves) keeps
them, with the same scoring code: its inputs are what they were (docs/scoring.md). The model fits and
the regularisation choices are kept between runs (`scoring.model_fits` and `scoring.penalty_choices`, by
a digest of exactly the rows each was made from): an org whose closed pursuits did not change reuses its
fits rather than refitting them, with the same scores, and a choice is made again only when its rows
change. Memory text is never copied here (the marts join the memory atoms they need), so nothing erased
can linger in these tables.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import duckdb
import numpy as np
import polars as pl

from .features import read_pursuit_facts
from .model import CALIBRATION_SCHEMA, FIT_SETTINGS, RELIABILITY_SCHEMA, SCORE_SCHEMA, FitStore, score_all
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
# Per org: the last `core.cluster_changes` number its rows were computed after, the scoring code they
# were computed with, and the fits and choices they used (kept while the org's rows are).
STATES = "scoring.org_state"


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
    con.execute(
        f"create table if not exists {STATES} "
        "(org_id varchar, seq bigint, code varchar, fits varchar[], choices varchar[])"
    )


def _exists(con: duckdb.DuckDBPyConnection, table: str, schema: str = "scoring") -> bool:
    """Whether `<schema>.<table>` is in this warehouse (not in an attached database)."""
    return bool(
        con.execute(
            "select count(*) from information_schema.tables where table_catalog = current_database() "
            "and table_schema = ? and table_name = ?",
            [schema, table],
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


def _org_tables(con: duckdb.DuckDBPyConnection, org: str, store: FitStore | None) -> dict[str, pl.DataFrame]:
    """One org's rows of every scoring table, from its own history as of the run clock."""
    facts = read_pursuit_facts(con, [org])
    scored = score_all(facts, store)
    latest = facts.filter(pl.col("is_last"))  # each pursuit as it entered its last open stage
    return {
        "pursuit_scores": scored.scores,
        "score_calibration": scored.calibration,
        "score_reliability": scored.reliability,
        "win_patterns": win_patterns(org, submitted(latest))
        if latest.height
        else pl.DataFrame(schema=PATTERN_SCHEMA),
        "similar_pursuits": similar_pursuits(org, latest)
        if latest.height
        else pl.DataFrame(schema=SIMILAR_SCHEMA),
    }


def _concat(parts: list[dict[str, pl.DataFrame]]) -> dict[str, pl.DataFrame]:
    return {
        name: pl.concat([p[name] for p in parts]) if parts else pl.DataFrame(schema=SCHEMAS[name])
        for name in SCORING_TABLES
    }


def _orgs(con: duckdb.DuckDBPyConnection) -> list[str]:
    return [r[0] for r in con.execute("select distinct org_id from core.pursuits order by 1").fetchall()]


def compute(con: duckdb.DuckDBPyConnection, store: FitStore | None = None) -> dict[str, pl.DataFrame]:
    """Every scoring table's rows, from the warehouse as of its run clock (read only); fits found in
    `store` are reused. Orgs in order, each from its own history alone."""
    return _concat([_org_tables(con, org, store) for org in _orgs(con)])


@dataclass(frozen=True)
class OrgState:
    seq: int | None
    code: str
    fits: tuple[str, ...]
    choices: tuple[str, ...]


def code_digest() -> str:
    """What an org's rows depend on besides its history: this package's code and the libraries' versions
    (a change to any of them scores every org again)."""
    h = hashlib.sha256(FIT_SETTINGS.encode())
    for lib in ("polars", "duckdb"):
        h.update(f"{lib} {metadata.version(lib)}".encode())
    for path in sorted(Path(__file__).parent.glob("*.py")):
        h.update(path.name.encode() + path.read_bytes())
    return h.hexdigest()[:32]


def _org_seqs(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Each org's last core write (`core.cluster_changes`); none on a warehouse without that log."""
    if not _exists(con, "cluster_changes", schema="core"):
        return {}
    return dict(con.execute("select org_id, max(seq) from core.cluster_changes group by org_id").fetchall())


def _read_states(con: duckdb.DuckDBPyConnection) -> dict[str, OrgState]:
    rows = con.execute(f"select org_id, seq, code, fits, choices from {STATES}").fetchall()
    return {org: OrgState(seq, code, tuple(fits), tuple(choices)) for org, seq, code, fits, choices in rows}


def _unchanged(state: OrgState | None, seq: int | None, code: str, store: FitStore) -> bool:
    """Whether an org's stored rows are what scoring it again would give: no core write to any of its
    clusters since, the same code, and the fits and choices they used still kept."""
    return (
        state is not None
        and seq is not None
        and state.seq == seq
        and state.code == code
        and all(d in store.known for d in state.fits)
        and all(d in store.choices for d in state.choices)
    )


def _replace(con: duckdb.DuckDBPyConnection, table: str, frame: pl.DataFrame, keep: str) -> None:
    """Delete `table`'s rows but those whose `keep` column is in `_scoring_keep`; insert `frame`'s rows."""
    con.execute(f"delete from {table} where {keep} not in (select key from _scoring_keep)")
    con.register("_scoring_rows", frame.to_arrow())
    con.execute(f"insert into {table} select * from _scoring_rows")
    con.unregister("_scoring_rows")


def _keys(keys: list[str]) -> pl.DataFrame:
    return pl.DataFrame({"key": sorted(set(keys))}, schema={"key": pl.Utf8})


def write_scoring(con: duckdb.DuckDBPyConnection, *, rescore: bool = False) -> dict[str, int]:
    """Score again every org whose history changed since its rows were computed (`rescore`: every org)
    and replace its rows, in one transaction. Returns the rows in each table afterwards, `fits_made`
    (the model fits not found among the kept ones), `choices_made` (the same for the regularisation
    choices), `orgs_scored` and `orgs_kept` (the orgs scored again and those whose rows stayed)."""
    ensure_scoring_schema(con)
    store = read_fits(con)
    code, seqs, states = code_digest(), _org_seqs(con), _read_states(con)
    parts: list[dict[str, pl.DataFrame]] = []
    fits: dict[str, tuple[float, np.ndarray, np.ndarray]] = {}
    choices: dict[str, tuple[float, float]] = {}
    now: dict[str, OrgState] = {}
    kept: list[str] = []
    for org in _orgs(con):
        if not rescore and _unchanged(states.get(org), seqs.get(org), code, store):
            now[org] = states[org]
            kept.append(org)
            continue
        store.used, store.choices_used = {}, {}
        parts.append(_org_tables(con, org, store))
        fits.update(store.used)
        choices.update(store.choices_used)
        now[org] = OrgState(seqs.get(org), code, tuple(sorted(store.used)), tuple(sorted(store.choices_used)))
    tables = _concat(parts)
    # Keep the fits and choices an org's rows used, and only those: a stale one would never be looked up again.
    keep_fits = set(fits).union(*(now[org].fits for org in kept))
    keep_choices = set(choices).union(*(now[org].choices for org in kept))
    fit_rows = pl.DataFrame(
        {
            "digest": list(fits),
            "intercept": [f[0] for f in fits.values()],
            "weights": [f[1].tolist() for f in fits.values()],
            "centre": [f[2].tolist() for f in fits.values()],
        },
        schema={
            "digest": pl.Utf8,
            "intercept": pl.Float64,
            "weights": pl.List(pl.Float64),
            "centre": pl.List(pl.Float64),
        },
    )
    choice_rows = pl.DataFrame(
        {
            "digest": list(choices),
            "c": [p[0] for p in choices.values()],
            "l1_ratio": [p[1] for p in choices.values()],
        },
        schema={"digest": pl.Utf8, "c": pl.Float64, "l1_ratio": pl.Float64},
    )
    state_rows = pl.DataFrame(
        [(org, s.seq, s.code, list(s.fits), list(s.choices)) for org, s in now.items()],
        schema={
            "org_id": pl.Utf8,
            "seq": pl.Int64,
            "code": pl.Utf8,
            "fits": pl.List(pl.Utf8),
            "choices": pl.List(pl.Utf8),
        },
        orient="row",
    )
    con.execute("begin")
    try:
        con.register("_scoring_keep", _keys(kept).to_arrow())
        for name, frame in tables.items():
            _replace(con, f"scoring.{name}", frame.select(list(SCHEMAS[name])), "org_id")
        # A fit or choice that is kept and used again stays as it is; only new ones are inserted.
        for table, rows, keep in ((FITS, fit_rows, keep_fits), (CHOICES, choice_rows, keep_choices)):
            con.register("_scoring_keep", _keys(list(keep)).to_arrow())
            con.execute(f"delete from {table} where digest not in (select key from _scoring_keep)")
            con.register("_scoring_new", rows.to_arrow())
            con.execute(
                f"insert into {table} select * from _scoring_new n "
                f"where n.digest not in (select digest from {table})"
            )
            con.unregister("_scoring_new")
        con.unregister("_scoring_keep")
        con.execute(f"delete from {STATES}")
        con.register("_scoring_states", state_rows.to_arrow())
        con.execute(f"insert into {STATES} select * from _scoring_states")
        con.unregister("_scoring_states")
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    counts = {
        name: con.execute(f"select count(*) from scoring.{name}").fetchone()[0] for name in SCORING_TABLES
    }
    return {
        **counts,
        "fits_made": store.fitted,
        "choices_made": store.chosen,
        "orgs_scored": len(parts),
        "orgs_kept": len(kept),
    }
