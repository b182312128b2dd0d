"""Import + run of a generated CRM export: how long a real history takes to come in.

    python -m benchmarks.crm_import --rows N [--vendor salesforce|hubspot|both] [--workdir DIR] [--skip-run]

Writes a realistic export of about N rows (mixed objects; half per vendor with `both`) with
`dagster_project.importers.fake`, then times, each in a process of its own so that its peak memory is
its own: `workstream import` of each export into one inbox, and one `workstream run --skip-tests` of
that inbox (ingest, apply, dbt build, publish). Prints wall seconds, rows and events per second and
each process's peak RSS; nothing is asserted.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from dagster_project.importers.fake import fake_export

ROOT = Path(__file__).resolve().parent.parent
WORKSTREAM = [sys.executable, "-m", "dagster_project.cli"]


def _timed(args: list[str], env: dict[str, str], log: Path) -> tuple[float, float]:
    """(wall seconds, peak RSS in MB) of one child process; its output goes to `log`."""
    log.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    with log.open("wb") as out:
        child = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status):
        tail = log.read_text(errors="replace")[-2000:]
        raise SystemExit(f"{' '.join(args)} failed:\n{tail}")
    return wall, usage.ru_maxrss / 1024


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
    results: dict = {"rows": 0, "events": 0, "import_s": 0.0, "import_peak_mb": 0.0}
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
        wall, peak = _timed([*command, "--out", str(inbox)], env, args.workdir / f"import-{vendor}.log")
        print(
            f"{vendor}: import {wall:.1f} s ({truth.rows / wall:,.0f} rows/s), peak RSS {peak:,.0f} MB",
            flush=True,
        )
        results["rows"] += truth.rows
        results["import_s"] += wall
        results["import_peak_mb"] = max(results["import_peak_mb"], peak)
    results["events"] = sum(len(p.read_bytes().splitlines()) for p in inbox.glob("*.jsonl"))
    print(
        f"import total: {results['rows']:,} rows → {results['events']:,} events in {results['import_s']:.1f} s"
    )
    if not args.skip_run:
        for path in inbox.iterdir():  # the inbox waits for files younger than 2 s; these are complete
            os.utime(path, (time.time() - 10, time.time() - 10))
        run = [*WORKSTREAM, "run", "--inbox", str(inbox), "--home", str(home), "--skip-tests"]
        wall, peak = _timed(run, env, args.workdir / "run.log")
        results |= {"run_s": wall, "run_peak_mb": peak}
        print(
            f"workstream run: {wall:.1f} s ({results['events'] / wall:,.0f} events/s), peak RSS {peak:,.0f} MB"
        )
        print(f"import + run: {results['import_s'] + wall:.1f} s")
    return results


if __name__ == "__main__":
    main()
