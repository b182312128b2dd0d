"""Import + run of a generated CRM export: how long a real history takes to come in.

    python -m benchmarks.crm_import --rows N [--vendor salesforce|hubspot|both] [--workdir DIR] [--skip-run]

Writes a realistic export of about N rows (mixed objects; half per vendor with `both`) with
`dagster_project.importers.fake`, then times, each in a process of its own so that its peak memory is
its own: `workstream import` of each export into one inbox, and one `workstream run --skip-tests` of
that inbox (ingest, apply, dbt build, publish). Prints wall seconds, rows and events per second and
each process's CPU seconds (user + sys, its children included) and peak RSS, and the machine's load
average while each ran; nothing is asserted. On a shared machine wall time is only an upper bound and
the CPU figure is the steadier one, hence both.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from benchmarks.record import save
from dagster_project.importers.fake import fake_export

ROOT = Path(__file__).resolve().parent.parent
WORKSTREAM = [sys.executable, "-m", "dagster_project.cli"]


@dataclass(frozen=True)
class Timing:
    wall_s: float
    cpu_s: float  # user + sys of the process and the children it waited for
    peak_mb: float
    load: tuple[float, float, float]  # 1-minute load average while it ran: min, median, max

    def describe(self) -> str:
        low, mid, high = self.load
        return (
            f"{self.wall_s:.1f} s wall, {self.cpu_s:.1f} s CPU, peak RSS {self.peak_mb:,.0f} MB, "
            f"load average {low:.1f}/{mid:.1f}/{high:.1f} (min/median/max)"
        )


def _sample_load(samples: list[float], stop: threading.Event, every_s: float = 15.0) -> None:
    while True:
        samples.append(os.getloadavg()[0])
        if stop.wait(every_s):
            return


def _timed(args: list[str], env: dict[str, str], log: Path) -> Timing:
    """Wall, CPU, peak RSS and the load average of one child process; its output goes to `log`."""
    log.parent.mkdir(parents=True, exist_ok=True)
    samples: list[float] = []
    stop = threading.Event()
    sampler = threading.Thread(target=_sample_load, args=(samples, stop), daemon=True)
    start = time.perf_counter()
    sampler.start()
    with log.open("wb") as out:
        child = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - start
    stop.set()
    sampler.join()
    # wait4's usage covers the child and its waited-for descendants (dbt runs in a process of its own)
    load = (min(samples), statistics.median(samples), max(samples))
    timing = Timing(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, load)
    if os.waitstatus_to_exitcode(status):
        # A long run that fails late still says how far it got and at what cost.
        tail = log.read_text(errors="replace")[-2000:]
        raise SystemExit(f"{' '.join(args)} failed after {timing.describe()}:\n{tail}")
    return timing


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--vendor", choices=("salesforce", "hubspot", "both"), default="both")
    parser.add_argument("--workdir", type=Path, default=ROOT / "data" / "bench" / "crm")
    parser.add_argument("--skip-run", action="store_true", help="Time the import only.")
    args = parser.parse_args(argv)
    vendors = ("salesforce", "hubspot") if args.vendor == "both" else (args.vendor,)
    shutil.rmtree(args.workdir, ignore_errors=True)
    inbox, home = args.workdir / "inbox", args.workdir / "home"
    env = {k: v for k, v in os.environ.items() if k != "WORKSTREAM_NOW"}
    results: dict = {"rows": 0, "events": 0, "import_s": 0.0, "import_cpu_s": 0.0, "import_peak_mb": 0.0}
    for vendor in vendors:
        start = time.perf_counter()
        truth = fake_export(args.workdir / vendor, vendor, rows=args.rows // len(vendors), seed=11)
        print(f"{vendor}: generated {truth.rows:,} rows in {time.perf_counter() - start:.1f} s", flush=True)
        command = [
            *WORKSTREAM,
            "import",
            vendor,
            "--from",
            str(args.workdir / vendor),
            "--org",
            f"bench-{vendor}",
        ]
        timing = _timed([*command, "--out", str(inbox)], env, args.workdir / f"import-{vendor}.log")
        print(f"{vendor}: import {timing.describe()}; {truth.rows / timing.wall_s:,.0f} rows/s", flush=True)
        results["rows"] += truth.rows
        results["import_s"] += timing.wall_s
        results["import_cpu_s"] += timing.cpu_s
        results["import_peak_mb"] = max(results["import_peak_mb"], timing.peak_mb)
    results["events"] = sum(len(p.read_bytes().splitlines()) for p in inbox.glob("*.jsonl"))
    print(
        f"import total: {results['rows']:,} rows → {results['events']:,} events in "
        f"{results['import_s']:.1f} s wall, {results['import_cpu_s']:.1f} s CPU",
        flush=True,
    )
    if not args.skip_run:
        for path in inbox.iterdir():  # the inbox waits for files younger than 2 s; these are complete
            os.utime(path, (time.time() - 10, time.time() - 10))
        run = [*WORKSTREAM, "run", "--inbox", str(inbox), "--home", str(home), "--skip-tests"]
        timing = _timed(run, env, args.workdir / "run.log")
        results |= {"run_s": timing.wall_s, "run_cpu_s": timing.cpu_s, "run_peak_mb": timing.peak_mb}
        print(f"workstream run: {timing.describe()}; {results['events'] / timing.wall_s:,.0f} events/s")
        print(
            f"import + run: {results['import_s'] + timing.wall_s:.1f} s wall, "
            f"{results['import_cpu_s'] + timing.cpu_s:.1f} s CPU"
        )
    peak = max(results["import_peak_mb"], results.get("run_peak_mb", 0.0))
    out = save(f"crm-{args.rows}", results | {"peak_rss_mb": peak}, size=results["events"])
    print(f"results: {out}")
    return results


if __name__ == "__main__":
    main()
