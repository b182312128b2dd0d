"""`make bench`: ingest against DuckDB's raw load, and the whole `workstream run` at 1k and at N events.

Prints a table and writes data/bench/results-<N>.json. Not a test: nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.apply_steps import saved_history
from benchmarks.record import save, timed_child

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "data" / "bench"
BIN = Path(sys.executable).parent
END = "2026-11-27T17:00:00Z"
DEFAULT_SPAN_DAYS = 120


def _sh(args: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(args, check=True, text=True, capture_output=True, cwd=ROOT, **kw)


def tag(events: int, span_days: int = DEFAULT_SPAN_DAYS) -> str:
    """How files of one dataset are named: `1000000`, or `5000000-600d` for another span."""
    return f"{events}" if span_days == DEFAULT_SPAN_DAYS else f"{events}-{span_days}d"


def dataset(events: int, bad_rate: float, span_days: int = DEFAULT_SPAN_DAYS) -> Path:
    """Generate once per size and span; a finished dataset (its manifest written last) is reused."""
    inbox = BENCH / f"inbox-{tag(events, span_days)}"
    if (inbox / ".manifest.json").exists():
        return inbox
    shutil.rmtree(inbox, ignore_errors=True)
    print(f"generating {events:,} events into {inbox} …", flush=True)
    started = time.perf_counter()
    _sh(
        [
            str(BIN / "workstream"),
            "generate",
            "--out",
            str(inbox),
            "--events",
            str(events),
            "--orgs",
            "4",
            "--seed",
            "7",
            "--bad-rate",
            str(bad_rate),
            "--end",
            END,
            "--span-days",
            str(span_days),
        ]
    )
    print(f"  generated in {time.perf_counter() - started:.1f} s", flush=True)
    return inbox


def step(name: str, inbox: Path, warehouse: Path) -> dict:
    warehouse.unlink(missing_ok=True)
    # On a shared machine wall time stretches with the load; the load beside the CPU time says how much.
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    out = _sh([sys.executable, "-m", "benchmarks.steps", name, str(inbox), str(warehouse)])
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["wall_seconds"] = time.perf_counter() - started
    result["load_average"] = [load_before, os.getloadavg()[0]]
    warehouse.unlink(missing_ok=True)
    return result


def whole_run(inbox: Path, home: Path, *, fresh: bool = True) -> dict:
    if fresh:
        shutil.rmtree(home, ignore_errors=True)
    # wall, CPU (dbt's process included) and peak RSS of the run's process
    return timed_child(
        [str(BIN / "workstream"), "run", "--inbox", str(inbox), "--home", str(home), "--as-of", END],
        env={**os.environ, "WORKSTREAM_NOW": "2026-11-28T00:00:00Z"},
    )


def ingest_rounds(inbox: Path, rounds: int) -> dict:
    """(a) in paired rounds: the raw load, then the ingest, each in a fresh process and warehouse.

    This machine's speed drifts by up to ± 30 % within minutes, so a single pair can land anywhere in
    that band; the reported ratio is the median of the rounds' own ratios (each pair ran seconds
    apart), and the reported step is the round with that ratio.
    """
    pairs = []
    for n in range(1, rounds + 1):
        print(f"(a) round {n}/{rounds}: DuckDB raw load, then the ingest step alone …", flush=True)
        raw = step("duckdb_raw", inbox, BENCH / "raw.duckdb")
        ingest = step("ingest", inbox, BENCH / "ingest.duckdb")
        pairs.append({"duckdb_raw": raw, "ingest": ingest, "ratio": ingest["seconds"] / raw["seconds"]})
        print(
            f"    raw {raw['seconds']:.2f} s ({raw['cpu_seconds']:.1f} s CPU), ingest {ingest['seconds']:.2f} s "
            f"({ingest['cpu_seconds']:.1f} s CPU, peak RSS {ingest['peak_rss_mb']:,.0f} MB), "
            f"ratio {pairs[-1]['ratio']:.2f}, CPU ratio {ingest['cpu_seconds'] / max(raw['cpu_seconds'], 1e-6):.2f}, "
            f"load average {raw['load_average'][0]:.1f}–{ingest['load_average'][1]:.1f}",
            flush=True,
        )
    middle = sorted(pairs, key=lambda pair: pair["ratio"])[(len(pairs) - 1) // 2]
    return {
        "ingest_rounds": pairs,
        "duckdb_raw": middle["duckdb_raw"],
        "ingest": middle["ingest"],
        "ingest_ratio": statistics.median(pair["ratio"] for pair in pairs),
        "ingest_events_per_s": middle["ingest"]["lines"] / middle["ingest"]["seconds"],
    }


def increment_run_on_applied_history(parts: Path, apply_home: Path, name: str) -> dict:
    """(b) at a large size: the whole `workstream run` of the increment, on a copy of the home the
    history apply left (applying a large history twice would take most of an hour). A first run with
    an empty inbox builds and publishes the history, so the increment run is a steady-state run."""
    from benchmarks.apply_steps import saved_history

    print(
        "(b) whole `workstream run`: the applied history built and published, then the increment …",
        flush=True,
    )
    home = BENCH / f"home-{name}-increment"
    shutil.rmtree(home, ignore_errors=True)
    shutil.copytree(saved_history(apply_home), home)
    inbox = BENCH / f"increment-inbox-{name}"
    shutil.rmtree(inbox, ignore_errors=True)
    inbox.mkdir(parents=True)
    first = whole_run(inbox, home, fresh=False)
    shutil.copy(parts / "increment" / "increment.jsonl", inbox / "increment.jsonl")
    return {"run_history_build": first, "run_increment": whole_run(inbox, home, fresh=False)}


def apply_step(name: str, *args: str) -> dict:
    started = time.perf_counter()
    out = _sh([sys.executable, "-m", "benchmarks.apply_steps", name, *args])
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["wall_seconds"] = time.perf_counter() - started
    return result


def machine() -> str:
    cpu = "unknown cpu"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{platform.system()} {platform.release()}, {os.cpu_count()} cores ({cpu}), {mem:.0f} GiB RAM, Python {platform.python_version()}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument(
        "--large",
        action="store_true",
        help="opt-in large run: the whole runs only on a copy of the applied history (no second apply)",
    )
    parser.add_argument("--increment", type=int, default=10_000, help="events in the incremental drop")
    parser.add_argument(
        "--reuse-history",
        action="store_true",
        help="keep the split and applied history of an earlier run of this size (repeat the rest)",
    )
    parser.add_argument(
        "--rounds", type=int, default=3, help="paired raw/ingest rounds for (a); the median ratio is reported"
    )
    parser.add_argument("--skip-ingest", action="store_true", help="only the apply and whole-run parts")
    parser.add_argument("--skip-apply", action="store_true", help="only the ingest part")
    parser.add_argument("--bad-rate", type=float, default=0.01)
    parser.add_argument(
        "--span-days",
        type=int,
        default=DEFAULT_SPAN_DAYS,
        help="days the generated events cover (more days at the same size: a longer history at a lower rate)",
    )
    args = parser.parse_args()
    name = tag(args.events, args.span_days)
    BENCH.mkdir(parents=True, exist_ok=True)
    results: dict = {"machine": machine(), "events": args.events, "span_days": args.span_days}
    inbox = dataset(args.events, args.bad_rate, args.span_days)
    size_mb = sum(p.stat().st_size for p in inbox.iterdir()) / 2**20
    results["input_mb"] = round(size_mb, 1)

    if not args.skip_ingest:
        results.update(ingest_rounds(inbox, args.rounds))

    if args.skip_apply:
        _report(results, args, inbox, size_mb)
        return
    print(f"(c) apply: the history, then an increment of the newest {args.increment:,} events …", flush=True)
    parts = BENCH / f"split-{name}"
    apply_home = BENCH / f"apply-home-{name}"
    previous = BENCH / f"results-{name}{'-large' if args.large else ''}.json"
    if args.reuse_history and saved_history(apply_home).exists() and previous.exists():
        # The increment and whole runs again, on a quiet machine, from the saved history.
        earlier = json.loads(previous.read_text())
        results["split"], results["apply_history"] = earlier["split"], earlier["apply_history"]
    else:
        results["split"] = apply_step("split", str(inbox), str(parts), str(args.increment))
        results["apply_history"] = apply_step("history", str(parts / "history"), str(apply_home))
    results["apply_increment"] = apply_step("increment", str(parts / "increment"), str(apply_home))

    if args.large:
        results.update(increment_run_on_applied_history(parts, apply_home, name))
    else:
        print("(b) whole `workstream run` at 1k, on the history, then on the increment …", flush=True)
        small = dataset(1000, args.bad_rate)
        results["run_1k"] = whole_run(small, BENCH / "home-1k")
        run_inbox = BENCH / f"run-inbox-{name}"
        shutil.rmtree(run_inbox, ignore_errors=True)
        shutil.copytree(parts / "history", run_inbox)
        home = BENCH / f"home-{name}"
        results["run_n"] = whole_run(run_inbox, home)
        shutil.copy(parts / "increment" / "increment.jsonl", run_inbox / "increment.jsonl")
        results["run_increment"] = whole_run(run_inbox, home, fresh=False)
        out = _sh([sys.executable, "-m", "benchmarks.pages", str(home)])
        results["page_loads"] = json.loads(out.stdout.strip().splitlines()[-1])
        out = _sh([sys.executable, "-m", "benchmarks.api", str(home)])
        results["api"] = json.loads(out.stdout.strip().splitlines()[-1])
        fixed = results["run_1k"]["seconds"]
        n = results["split"]["history"]
        results["per_event_us"] = (results["run_n"]["seconds"] - fixed) / (n - 1000) * 1e6

    _report(results, args, inbox, size_mb)


def _report(results: dict, args: argparse.Namespace, inbox: Path, size_mb: float) -> None:
    name = f"{tag(args.events, args.span_days)}{'-large' if args.large else ''}"
    out = save(name, results, size=args.events, bench=BENCH)
    print()
    print(f"machine: {results['machine']}")
    print(
        f"input: {args.events:,} events over {args.span_days} days, {size_mb:.0f} MB in "
        f"{len(list(inbox.glob('events-*')))} files"
    )
    if not args.skip_ingest:
        raw, ingest, pairs = results["duckdb_raw"], results["ingest"], results["ingest_rounds"]
        ratios = sorted(pair["ratio"] for pair in pairs)
        peak = max(pair["ingest"]["peak_rss_mb"] for pair in pairs)
        print(
            f"DuckDB raw load:      {raw['seconds']:8.2f} s   {raw['cpu_seconds']:5.1f} s CPU   "
            f"peak RSS {raw['peak_rss_mb']:7.0f} MB   ({raw['rows']:,} rows)"
        )
        print(
            f"validated ingest:     {ingest['seconds']:8.2f} s   {ingest['cpu_seconds']:5.1f} s CPU   "
            f"peak RSS {ingest['peak_rss_mb']:7.0f} MB   ({ingest['lines']:,} lines, "
            f"{results['ingest_events_per_s']:,.0f} lines/s; the median round)"
        )
        print(
            f"ingest / raw ratio:   {results['ingest_ratio']:8.2f}   median of {len(pairs)} paired rounds "
            f"({', '.join(f'{r:.2f}' for r in ratios)}); ingest peak RSS over all rounds {peak:,.0f} MB   (goal <= 3)"
        )
    if args.skip_apply:
        print(f"results: {out}")
        return
    hist, inc = results["apply_history"], results["apply_increment"]
    print(
        f"apply history:        {hist['apply_seconds']:8.2f} s   peak RSS {hist['peak_rss_mb']:7.0f} MB   "
        f"({hist['claimed']:,} events, {hist['apply_events_per_s']:,.0f} events/s; ingest {hist['ingest_seconds']:.1f} s)"
    )
    print(
        f"increment ingest+apply: {inc['seconds']:6.2f} s   (ingest {inc['ingest_seconds']:.2f} s + apply "
        f"{inc['apply_seconds']:.2f} s; {inc['claimed']:,} events re-folded {inc['events_folded']:,} in "
        f"{inc['clusters']:,} clusters)"
    )
    if args.large:
        print(
            f"workstream run, build + publish of the applied history: {results['run_history_build']['seconds']:8.2f} s"
        )
        print(
            f"workstream run +{args.increment:,}: {results['run_increment']['seconds']:8.2f} s   (whole incremental run)"
        )
    else:
        print(f"workstream run 1k:    {results['run_1k']['seconds']:8.2f} s   (fixed overhead)")
        print(
            f"workstream run {results['split']['history']:,}: {results['run_n']['seconds']:8.2f} s   "
            f"(~{results['per_event_us']:.1f} µs per extra event)"
        )
        print(
            f"workstream run +{args.increment:,}: {results['run_increment']['seconds']:8.2f} s   (whole incremental run)"
        )
    print(f"results: {out}")


if __name__ == "__main__":
    main()
