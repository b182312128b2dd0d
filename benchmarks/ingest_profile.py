"""Where an ingest's CPU goes: each step's thread CPU time, summed over the run, and each file's store.

`python -m benchmarks.ingest_profile INBOX WAREHOUSE [--files N]` ingests the inbox (its first N files)
into a fresh warehouse as the ingest step does (`benchmarks.steps ingest`), with the steps of
`dagster_project.ingestion` wrapped in timers. A step's figure is the CPU time of the threads that ran
it (`time.thread_time`), its inner steps included: the lanes run DuckDB's statements on their own
threads, so a statement's work is counted in the step that issued it. Per stored file it prints the
store's CPU (judging against the log and the transaction), the log's size and the process's RSS, so a
cost that grows with the log shows as a store that grows file after file. Not a test: nothing is
asserted, and the timers cost a little themselves, so the run's own total is not a benchmark figure.
"""

from __future__ import annotations

import argparse
import functools
import json
import resource
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

from benchmarks.record import save

_SPENT: defaultdict[str, float] = defaultdict(float)
_CALLS: defaultdict[str, int] = defaultdict(int)
_LOCK = threading.Lock()

# (module, function) pairs to time: the preparation (no log), then the store (judge and write).
_STEPS = {
    "dagster_project.ingestion.ingest": (
        "_read",  # a file's whole preparation on its lane: the line split, then `prepare_batch`
        "stage_json_file",  # DuckDB's pass over a JSON Lines file, on a thread beside the split
        "prepare_batch",
        "_ingest_read",  # a file's whole store
        "_judge_batch",  # the duplicate check against the log and the batch
        "_resolve_collisions",
        "_quarantine",
        "_append_accepted",  # the insert of the accepted events into the log
    ),
    "dagster_project.ingestion.validation": (
        "parse_batch",  # the JSON/CSV/Parquet parse into the stage (JSON Lines: after DuckDB's pass)
        "_stage_structure",  # duplicate keys, nesting, overflowing numbers
        "duplicate_keys",  # of which: the duplicate-key parse (jiter, every record)
        "envelope_reasons",  # pandera
    ),
}


def _timed(module: ModuleType, name: str) -> None:
    function: Callable = getattr(module, name)
    label = f"{module.__name__.rsplit('.', 1)[-1]}.{name}"

    @functools.wraps(function)
    def timed(*args, **kwargs):
        started = time.thread_time()
        try:
            return function(*args, **kwargs)
        finally:
            with _LOCK:
                _SPENT[label] += time.thread_time() - started
                _CALLS[label] += 1

    setattr(module, name, timed)


def _rss_mb() -> int:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) // 1024 for line in status if line.startswith("VmRSS"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("inbox", type=Path)
    parser.add_argument("warehouse", type=Path)
    parser.add_argument("--files", type=int, default=0, help="only the first N files (0: all)")
    args = parser.parse_args()

    import importlib

    modules = {name: importlib.import_module(name) for name in _STEPS}
    for name, functions in _STEPS.items():
        for function in functions:
            _timed(modules[name], function)
    ingest = modules["dagster_project.ingestion.ingest"]
    store = ingest._ingest_read
    per_file = []

    def store_and_report(con, read, **kwargs):
        started = time.thread_time()
        result = store(con, read, **kwargs)
        log_rows = con.execute("select count(*) from raw.events").fetchone()[0]
        row = {
            "file": read.info.name,
            "store_cpu_seconds": round(time.thread_time() - started, 3),
            "log_rows": log_rows,
            "rss_mb": _rss_mb(),
        }
        per_file.append(row)
        print(json.dumps(row), flush=True)
        return result

    ingest._ingest_read = store_and_report

    from dagster_project.ingestion.readers import list_inbox
    from dagster_project.settings import default_clock
    from dagster_project.warehouse.store import connect

    files = list_inbox(args.inbox, settle_seconds=0)
    files = files[: args.files] if args.files else files
    args.warehouse.unlink(missing_ok=True)
    con = connect(args.warehouse)
    started, cpu = time.perf_counter(), time.process_time()
    report = ingest.ingest_paths(con, files, now=default_clock().now())
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    con.close()
    steps = {label: round(_SPENT[label], 2) for label in sorted(_SPENT, key=lambda k: -_SPENT[k])}
    print(f"{report.total('lines'):,} records, {wall:.1f} s wall, {cpu:.1f} s CPU (all threads)")
    for label, seconds in steps.items():
        print(f"  {label:32s} {seconds:8.2f} s CPU  {_CALLS[label]:4d} calls")
    save(
        f"ingest-profile-{report.total('lines')}",
        {
            "lines": report.total("lines"),
            "wall_seconds": wall,
            "cpu_seconds": cpu,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "steps_cpu_seconds": steps,
            "per_file": per_file,
        },
        size=report.total("lines"),
    )


if __name__ == "__main__":
    main()
