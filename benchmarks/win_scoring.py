"""Does each org's win model beat the base rate on its held-out pursuits? Measured on generated demos.

`python -m benchmarks.win_scoring --orgs 4 --events 50000 --seeds 7 1 2 3` generates each demo (1 % bad
lines, as `make demo` does), ingests and applies it as of its end, runs the win scoring and prints one
line per org and seed: n_train, n_holdout, brier_model, brier_base_rate, the standard error of their
difference (over held-out pursuits) and, as the bound no scorer can pass, the Brier score of the
generator's own win chance for each held-out row (`truth`). The figures are in benchmarks/README.md.
`--keep DIR` keeps the warehouses there (one folder per size and seed) and reuses them on the next call.
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import numpy as np
import polars as pl

from benchmarks.record import save
from dagster_project.apply.runner import run_apply
from dagster_project.generator import generate
from dagster_project.generator.outcomes import FAST_RESPONSE_HOURS, win_probability
from dagster_project.ingestion.ingest import ingest_paths
from dagster_project.ingestion.readers import list_inbox
from dagster_project.scoring.features import read_pursuit_facts
from dagster_project.scoring.model import held_out_scores, score_all
from dagster_project.warehouse.store import connect, ensure_raw_schema

END = datetime(2026, 11, 27, 17, 0, tzinfo=UTC)
AS_OF = END + timedelta(hours=1)


def build(folder: Path, orgs: int, events: int, seed: int) -> Path:
    """A warehouse of one generated demo, applied as of its end (reused when already there)."""
    path = folder / "warehouse.duckdb"
    if path.exists():
        return path
    folder.mkdir(parents=True, exist_ok=True)
    generate(folder / "inbox", orgs=orgs, events=events, seed=seed, end=END, bad_rate=0.01)
    con = connect(folder / "building.duckdb")
    try:
        ensure_raw_schema(con)
        ingest_paths(con, list_inbox(folder / "inbox", settle_seconds=0), now=AS_OF)
        run_apply(con, folder / "control.sqlite", now=AS_OF, as_of=AS_OF, worker="bench")
    finally:
        con.close()
    (folder / "building.duckdb").rename(path)
    return path


def truth(facts: pl.DataFrame, held: pl.DataFrame) -> np.ndarray:
    """The generator's chance of winning for each held-out row: its stated effects (the note, read from
    the pursuit's last row, the first response and the lead source), times the org's share of closed
    pursuits entering that stage that reached submit (the rest were lost on the way, whatever their
    effects)."""
    closed = facts.filter(pl.col("outcome").is_not_null())
    last = closed.filter(pl.col("is_last")).select(
        "pursuit_id",
        (pl.col("risk_mitigations") > 0).alias("mitigated"),
        (pl.col("last_open_stage") == "submit").alias("reached"),
    )
    reach = dict(
        closed.join(last, on="pursuit_id")
        .group_by("last_open_stage")
        .agg(pl.col("reached").mean())
        .iter_rows()
    )
    reach["submit"] = 1.0
    rows = (
        held.select("pursuit_id", "last_open_stage")
        .with_row_index()
        .join(
            closed.filter(pl.col("is_last")).select("pursuit_id", "response_hours", "lead_source"),
            on="pursuit_id",
        )
    )
    rows = rows.join(last, on="pursuit_id").sort("index")
    out = []
    for r in rows.iter_rows(named=True):
        fast = r["response_hours"] is not None and r["response_hours"] <= FAST_RESPONSE_HOURS
        effects = {
            n
            for n, on in (
                ("risk_mitigation", r["mitigated"]),
                ("fast_first_response", fast),
                ("referral", r["lead_source"] == "referral"),
            )
            if on
        }
        out.append(reach[r["last_open_stage"]] * win_probability(effects))
    return np.array(out)


def calibration(warehouse: Path) -> pl.DataFrame:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        facts = read_pursuit_facts(con)
    finally:
        con.close()
    cal = score_all(facts).calibration
    extra = []
    for (org,), part in facts.sort("org_id").group_by("org_id", maintain_order=True):
        held = held_out_scores(part)
        if held is None:
            extra.append({"org_id": org, "se": None, "brier_truth": None})
            continue
        d = (held["predicted"] - held["won"]) ** 2 - (held["base_rate"] - held["won"]) ** 2
        rows = held.select("pursuit_id").with_columns(d.alias("d"))
        per = rows.group_by("pursuit_id").agg(pl.col("d").sum().alias("t"), pl.len().alias("n"))
        se = float(np.sqrt(((per["t"] - float(d.mean()) * per["n"]) ** 2).sum()) / len(rows))
        brier_truth = float(np.mean((truth(part, held) - held["won"].to_numpy()) ** 2))
        extra.append({"org_id": org, "se": se, "brier_truth": brier_truth})
    return cal.join(
        pl.DataFrame(extra, schema={"org_id": pl.Utf8, "se": pl.Float64, "brier_truth": pl.Float64}),
        on="org_id",
    )


def main(argv: Sequence[str] | None = None) -> pl.DataFrame:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orgs", type=int, default=4)
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[7])
    parser.add_argument("--keep", type=Path, default=None)
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        root = args.keep or Path(scratch)
        for seed in args.seeds:
            warehouse = build(root / f"{args.orgs}-{args.events}-{seed}", args.orgs, args.events, seed)
            cal = calibration(warehouse).with_columns(pl.lit(seed).alias("seed"))
            rows.append(cal)
            for r in cal.iter_rows(named=True):
                ahead = r["brier_model"] < r["brier_base_rate"]
                print(
                    f"seed {seed} {r['org_id']:<10} {r['scorer']:<6} n_train {r['n_train']:>4} "
                    f"n_holdout {r['n_holdout']:>4} brier_model {r['brier_model']:.4f} "
                    f"brier_base_rate {r['brier_base_rate']:.4f} se {r['se'] or 0:.4f} "
                    f"truth {r['brier_truth'] or 0:.4f} {'ahead' if ahead else 'BEHIND'}",
                    flush=True,
                )
    table = pl.concat(rows)
    ahead = (table["brier_model"] < table["brier_base_rate"]).sum()
    print(f"model ahead of the base rate for {ahead} of {len(table)} org-seeds")
    save(
        f"win-scoring-{args.events}",
        {"orgs": args.orgs, "seeds": args.seeds, "rows": table.to_dicts()},
        size=args.events,
    )
    return table


if __name__ == "__main__":
    main()
