"""One drop's whole `workstream run`, step by step, on a copy of a home (issue 23 item 2).

    python -m benchmarks.drop HOME DROP WORKDIR [--as-of ISO] [--now ISO] [--tests]

Copies HOME (a home a `workstream run` left, kept as it is so every change is measured on the same
history; a HOME that does not exist makes the drop a first load) to WORKDIR/home, puts the file DROP into an inbox of its own and runs `workstream run
--skip-tests` on them (`--tests` keeps the data-test job). While it runs, it follows the run's log
(`<home>/logs/run.log`) and, at each Dagster step's start and end, reads the CPU seconds of the run's
process and its live children (`/proc`), so each step gets its wall and CPU seconds: on a shared
machine the CPU figure is the steadier one. Every sample (5 a second) also sums the resident memory of
the run's live processes, so each step gets the largest sum seen while it ran (`peak_tree_rss_mb`). Prints the steps, slowest first, and the whole run, as JSON,
and saves them as `data/bench/results-drop-<name>.json`.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.record import save, snapshot_events

BIN = Path(sys.executable).parent
_STEP = re.compile(r" - (?P<step>[\w.\-\[\]]+) - (?P<event>STEP_START|STEP_SUCCESS|STEP_FAILURE) - ")
_TICK = os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def _rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def tree_usage(pid: int) -> tuple[float, float]:
    """CPU seconds (user + system) of `pid`, its reaped children and its live descendants; and the
    resident MB of the live ones summed (pages they share are counted in each, so an upper bound)."""
    total, rss, todo = 0.0, 0.0, [pid]
    while todo:
        current = todo.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # Fields 14-17 of stat (utime, stime, cutime, cstime), counted from after the command name.
        utime, stime, cutime, cstime = (int(f) for f in fields[11:15])
        total += (utime + stime + cutime + cstime) / _TICK
        rss += _rss_mb(current)
        todo.extend(_children(current))
    return total, rss


def step_events(lines: list[str]) -> list[tuple[str, str]]:
    """(step, event) for each step start and end in these lines of a run's log."""
    return [(m["step"], m["event"]) for m in (_STEP.search(line) for line in lines) if m]


def run_drop(home: Path, drop: Path, workdir: Path, *, as_of: str, now: str, tests: bool) -> dict:
    run_home, inbox = workdir / "home", workdir / "inbox"
    shutil.rmtree(workdir, ignore_errors=True)
    if home.exists():
        shutil.copytree(home, run_home)
    else:  # no home yet: the drop is a first load
        run_home.mkdir(parents=True)
    inbox.mkdir(parents=True)
    # The home's earlier inbox files are recorded by content hash in its control store: an inbox with
    # only the drop is the same run as the full inbox, without listing the history's files again.
    shutil.copy(drop, inbox / drop.name)
    os.sync()  # the copy's dirty pages written back before the clock starts, not during the run
    log = run_home / "logs" / "run.log"
    seen = len(log.read_text().splitlines()) if log.exists() else 0
    args = [str(BIN / "workstream"), "run", "--inbox", str(inbox), "--home", str(run_home), "--as-of", as_of]
    args.append("--tests" if tests else "--skip-tests")
    load = os.getloadavg()[0]
    started = time.perf_counter()
    out_path = workdir / "run-output.txt"
    with out_path.open("w") as out:
        child = subprocess.Popen(
            args, env={**os.environ, "WORKSTREAM_NOW": now}, stdout=out, stderr=subprocess.STDOUT
        )
    open_steps: dict[str, tuple[float, float]] = {}
    steps: dict[str, dict[str, float]] = {}
    peaks: dict[str, float] = {}  # each open step's largest resident MB of the run's process tree
    cpu = 0.0

    def follow() -> None:
        nonlocal seen
        if not log.exists():
            return
        lines = log.read_text(errors="replace").splitlines()
        for step, event in step_events(lines[seen:]):
            at = (time.perf_counter(), cpu)
            if event == "STEP_START":
                open_steps[step] = at
                peaks[step] = 0.0
            elif step in open_steps:
                wall0, cpu0 = open_steps.pop(step)
                steps[step] = {
                    "wall_s": round(at[0] - wall0, 2),
                    "cpu_s": round(at[1] - cpu0, 2),
                    "peak_tree_rss_mb": round(peaks.pop(step), 1),
                }
        seen = len(lines)

    # The run's output goes to a file: a pipe it filled while nobody read it would stall the run.
    while True:
        pid, status, usage = os.wait4(child.pid, os.WNOHANG)
        if pid:
            break
        sampled_cpu, rss = tree_usage(child.pid)
        cpu = max(cpu, sampled_cpu)
        for step in open_steps:
            peaks[step] = max(peaks[step], rss)
        follow()
        time.sleep(0.2)
    wall = time.perf_counter() - started
    # The last steps end after the last sample: charge them the run's whole CPU (its own usage at exit).
    cpu = usage.ru_utime + usage.ru_stime
    follow()
    output = out_path.read_text(errors="replace")
    code = os.waitstatus_to_exitcode(status)
    if code:
        raise SystemExit(f"workstream run failed ({code}):\n{output[-4000:]}")
    ranked = dict(sorted(steps.items(), key=lambda kv: -kv[1]["wall_s"]))
    return {
        "seconds": round(wall, 2),
        "cpu_seconds": round(cpu, 2),
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
        "load_average": [round(load, 1), round(os.getloadavg()[0], 1)],
        "steps": ranked,
        "output": output.strip().splitlines()[-12:],
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("home", type=Path)
    parser.add_argument("drop", type=Path)
    parser.add_argument("workdir", type=Path)
    parser.add_argument("--as-of", default="2026-11-27T17:00:00Z")
    parser.add_argument("--now", default="2026-11-28T00:00:00Z")
    parser.add_argument("--tests", action="store_true", help="keep the data-test job in the run")
    parser.add_argument("--name", default="", help="results file suffix (default: the home's folder name)")
    args = parser.parse_args()
    first_load = not args.home.exists()
    history = args.home / "serving.duckdb"
    history_events = 0 if first_load or not history.exists() else snapshot_events(history)
    result = run_drop(args.home, args.drop, args.workdir, as_of=args.as_of, now=args.now, tests=args.tests)
    result["first_load"], result["history_events"] = first_load, history_events
    serving = args.workdir / "home" / "serving.duckdb"
    size = snapshot_events(serving) if serving.exists() else 0
    save(f"drop-{args.name or args.home.name}", result, size=size)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
