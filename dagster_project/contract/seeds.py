"""Writes the dbt seeds (dbt/seeds/*.csv) from the contract, so SQL reads the vocabularies, not copies.

    python -m dagster_project.contract.seeds           # rewrite dbt/seeds/*.csv
    python -m dagster_project.contract.seeds --check   # exit 1 when a committed seed is stale

The state lists, stage order, funnel stage pairs and reason codes are defined once, in
`contract/events.py` and `contract/states.py`; the dbt models join or select these seeds
(`ref('pursuit_stages')` …) instead of spelling the lists out, and a test fails when the committed
files differ from what this module writes.
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
from pathlib import Path

from dagster_project.contract.events import FUNNEL_STAGE_PAIRS, PURSUIT_STAGES, REASON_CODES
from dagster_project.contract.states import CANDIDATE_CLOSED, CANDIDATE_STATES, PURSUIT_CLOSED
from dagster_project.settings import DBT_PROJECT_DIR

SEEDS_DIR = DBT_PROJECT_DIR / "seeds"

# The funnel's first two stages are named after their item type; every other stage is a pursuit's.
_FUNNEL_ITEM_STAGES = ("signal", "candidate")


def _funnel_item_type(from_stage: str) -> str:
    if from_stage in PURSUIT_STAGES:
        return "pursuit"
    if from_stage in _FUNNEL_ITEM_STAGES:
        return from_stage
    raise ValueError(
        f"funnel stage {from_stage!r} is neither a pursuit stage nor one of {_FUNNEL_ITEM_STAGES}"
    )


def _flag(value: bool) -> str:
    return "true" if value else "false"


def tables() -> dict[str, list[list[str]]]:
    """Each seed's rows, header first, from the contract module."""
    return {
        "pursuit_stages": [
            ["stage", "stage_order", "is_open"],
            *(
                [stage, str(i), _flag(stage not in PURSUIT_CLOSED)]
                for i, stage in enumerate(PURSUIT_STAGES, 1)
            ),
        ],
        "candidate_states": [
            ["state", "state_order", "is_open"],
            *(
                [state, str(i), _flag(state not in CANDIDATE_CLOSED)]
                for i, state in enumerate(CANDIDATE_STATES, 1)
            ),
        ],
        "funnel_stage_pairs": [
            ["pair_order", "item_type", "from_stage", "to_stage"],
            *(
                [str(i), _funnel_item_type(from_stage), from_stage, to_stage]
                for i, (from_stage, to_stage) in enumerate(FUNNEL_STAGE_PAIRS, 1)
            ),
        ],
        "reason_codes": [
            ["reason_code", "reason_order"],
            *([code, str(i)] for i, code in enumerate(REASON_CODES, 1)),
        ],
    }


def render() -> dict[str, str]:
    """File name → CSV text, for every seed."""
    files: dict[str, str] = {}
    for name, rows in tables().items():
        out = io.StringIO()
        csv.writer(out, lineterminator="\n").writerows(rows)
        files[f"{name}.csv"] = out.getvalue()
    return files


def stale(directory: Path = SEEDS_DIR) -> list[str]:
    """The seed files in `directory` that differ from the contract's (missing ones included)."""
    return sorted(
        name
        for name, text in render().items()
        if not (directory / name).exists() or (directory / name).read_text(encoding="utf-8") != text
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write dbt/seeds/*.csv from the contract module.")
    parser.add_argument("--check", action="store_true", help="Only compare; exit 1 when a seed is stale.")
    parser.add_argument("--out", type=Path, default=SEEDS_DIR, help="Seed directory (default: %(default)s).")
    args = parser.parse_args(argv)
    if args.check:
        if names := stale(args.out):
            print(f"stale seeds in {args.out}: {', '.join(names)}: run python -m {__name__}", file=sys.stderr)
            return 1
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    for name, text in render().items():
        (args.out / name).write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
