"""What every benchmark writes beside its figures, so that `benchmarks.table` can put them in one table.

Each script saves `data/bench/results-<name>.json` through `save`, which adds the size measured (events,
or whatever the script counts), the date (the project's injectable clock, so a pinned `WORKSTREAM_NOW`
pins it too), the commit measured and the peak RSS of the script and the children it waited for, unless
the script recorded a finer peak of its own.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import time
from pathlib import Path

from dagster_project.settings import default_clock

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "data" / "bench"


def commit(root: Path = ROOT) -> str:
    """The short commit of the code measured, `+dirty` when the work tree had uncommitted changes."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=root, check=True, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{head}+dirty" if dirty else head


def peak_rss_mb() -> float:
    """The larger of this process's peak RSS and its largest waited-for child's (kilobytes on Linux)."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, children) / 1024


def stamp(results: dict, *, size: int) -> dict:
    """`results` with its size, date, commit and (unless already there) peak RSS."""
    return {
        **results,
        "size": size,
        "date": default_clock().now().isoformat(),
        "commit": commit(),
        "peak_rss_mb": results.get("peak_rss_mb") or round(peak_rss_mb(), 1),
    }


def save(name: str, results: dict, *, size: int, bench: Path = BENCH) -> Path:
    """Write `results-<name>.json` under `bench` (stamped) and return its path."""
    bench.mkdir(parents=True, exist_ok=True)
    out = bench / f"results-{name}.json"
    out.write_text(json.dumps(stamp(results, size=size), indent=2))
    return out


def timed_child(args: list[str], *, env: dict[str, str] | None = None, cwd: Path = ROOT) -> dict:
    """Wall and CPU seconds (user + sys, its waited-for children included) and peak RSS of one child.

    Raises `subprocess.CalledProcessError` with its output when it fails, as `subprocess.run(check=True)`.
    """
    started = time.perf_counter()
    child = subprocess.Popen(
        args, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    # Read until the child closes its output, then reap it with wait4 (not `wait`) for its usage.
    assert child.stdout is not None
    output = child.stdout.read()
    child.stdout.close()
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - started
    code = os.waitstatus_to_exitcode(status)
    child.returncode = code
    if code:
        raise subprocess.CalledProcessError(code, args, output=output)
    return {
        "seconds": wall,
        "cpu_seconds": usage.ru_utime + usage.ru_stime,
        "peak_rss_mb": usage.ru_maxrss / 1024,
    }


def snapshot_events(serving: Path) -> int:
    """The events in a published snapshot (`marts.snapshot_info`), the size its page and API figures stand for."""
    import duckdb

    with duckdb.connect(str(serving), read_only=True) as con:
        row = con.execute("select events from marts.snapshot_info limit 1").fetchone()
    return int(row[0]) if row and row[0] is not None else 0
