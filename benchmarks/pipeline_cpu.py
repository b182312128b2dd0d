"""The CPU of one pipeline run inside a warm process, as the test suite makes them.

`python -m benchmarks.pipeline_cpu [--rounds 3] [--tests]`: one warm-up run (imports, dbt's shared
partial parse), then per round a fresh home's first run and a second drop on the same home, each timed
as CPU seconds of this process and of the processes it waited for (dbt), and wall seconds. Prints one
JSON line with every round and the medians. Not a test: nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import tempfile
import time
from datetime import datetime
from pathlib import Path

# The suite's generated home: two orgs, 2,500 events (tests/shared_homes.py).
END = "2026-11-27T17:00:00+00:00"
NOW = "2026-11-28T12:00:00+00:00"


def _cpu() -> tuple[float, float]:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime, children.ru_utime + children.ru_stime


def _timed(run) -> dict:
    (own0, kids0), wall0 = _cpu(), time.perf_counter()
    run()
    (own1, kids1), wall1 = _cpu(), time.perf_counter()
    return {
        "cpu_s": round(own1 - own0 + kids1 - kids0, 2),
        "children_cpu_s": round(kids1 - kids0, 2),
        "wall_s": round(wall1 - wall0, 2),
    }


def _inbox(folder: Path) -> tuple[Path, list[Path]]:
    """The generated files, all but the last in the inbox; the last is the second drop."""
    from dagster_project.generator import generate

    source = folder / "generated"
    generate(source, orgs=2, events=2500, seed=5, bad_rate=0.02, end=datetime.fromisoformat(END), files=4)
    files = sorted(p for p in source.iterdir() if not p.name.startswith("."))
    for path in files:  # files modified in the last seconds count as still being written
        os.utime(path, (1_700_000_000, 1_700_000_000))
    return source, files


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tests", action="store_true", help="run dbt's data tests too, as the CLI does")
    args = parser.parse_args()

    from dagster_project.commands.run import run_pipeline

    scratch = Path(tempfile.mkdtemp(prefix="pipeline-cpu-"))
    try:
        _, files = _inbox(scratch)

        def one_home(name: str) -> dict:
            inbox, home = scratch / name / "inbox", scratch / name / "home"
            inbox.mkdir(parents=True)
            for path in files[:-1]:
                shutil.copy2(path, inbox / path.name)
            first = _timed(lambda: run_pipeline(home, inbox, now=NOW, tests=args.tests))
            shutil.copy2(files[-1], inbox / files[-1].name)
            second = _timed(lambda: run_pipeline(home, inbox, now=NOW, tests=args.tests))
            return {"first": first, "second": second}

        warm_up = one_home("warm-up")
        rounds = [one_home(f"round-{i}") for i in range(args.rounds)]
        medians = {
            run: {k: round(statistics.median(r[run][k] for r in rounds), 2) for k in rounds[0][run]}
            for run in ("first", "second")
        }
        print(json.dumps({"tests": args.tests, "warm_up": warm_up, "rounds": rounds, "median": medians}))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
