"""The publish step alone, for one drop: the full copy against the parts (docs/serving.md).

`python -m benchmarks.publish HOME WORKDIR [--old-rev REV] [--drop-file NAME]`

On copies of HOME's warehouse (HOME itself is only read): the drop is the event log's rows of one source
file (by default the last by name). For the parts, a first publish without the drop's rows, then the one
measured: the same warehouse with them back. For the full copy (`publish.py` at `--old-rev`, the
last version that copied the whole log), one publish of the warehouse with the drop. Prints wall and CPU
seconds (the process's, all DuckDB threads included), the rows written, and the size of every mart.
Not a test: nothing is asserted.
"""

from __future__ import annotations

import argparse
import importlib.util
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from dagster_project.serving.publish import publish_snapshot
from dagster_project.settings import HomePaths, default_clock
from dagster_project.warehouse.store import connect

ROOT = Path(__file__).resolve().parent.parent
OLD_REV = "c570502"  # the publish that copied the whole log into one Parquet file


def _old_publish(rev: str):
    """`publish_snapshot` as it was at `rev`, loaded from git under another module name."""
    source = subprocess.run(
        ["git", "show", f"{rev}:dagster_project/serving/publish.py"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    folder = Path(tempfile.mkdtemp(prefix="old-publish-"))
    path = folder / "old_publish.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("old_publish", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["old_publish"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module.publish_snapshot


def _home_copy(home: Path, to: Path) -> HomePaths:
    shutil.rmtree(to, ignore_errors=True)
    paths = HomePaths(to)
    paths.ensure()
    shutil.copyfile(HomePaths(home).warehouse, paths.warehouse)
    return paths


def _timed(work) -> tuple[float, float, object]:
    wall, cpu = time.perf_counter(), time.process_time()
    result = work()
    return time.perf_counter() - wall, time.process_time() - cpu, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("home", type=Path)
    parser.add_argument("workdir", type=Path)
    parser.add_argument("--old-rev", default=OLD_REV)
    parser.add_argument("--drop-file", default=None)
    args = parser.parse_args()
    now = default_clock().now()
    later = now + timedelta(seconds=1)

    new = _home_copy(args.home, args.workdir / "parts")
    con = connect(new.warehouse)
    try:
        drop = args.drop_file or con.execute("select max(source_file) from raw.events").fetchone()[0]
        rows = con.execute("select count(*) from raw.events where source_file = ?", [drop]).fetchone()[0]
        total = con.execute("select count(*) from marts.events").fetchone()[0]
        print(f"drop: {rows:,} events of {drop}; log after the drop: {total:,} events")
        sizes = con.execute(
            """select table_name, estimated_size, column_count from duckdb_tables()
               where schema_name = 'marts' order by estimated_size desc"""
        ).fetchall()
        print("marts by rows: " + ", ".join(f"{t} {n:,}" for t, n, _ in sizes[:8]))
        con.execute("create table main.bench_drop as select * from raw.events where source_file = ?", [drop])
        con.execute("delete from raw.events where source_file = ?", [drop])
        first = _timed(lambda: publish_snapshot(con, new, built_at=now, published_at=now))
        con.execute("insert into raw.events select * from main.bench_drop")
        con.execute("drop table main.bench_drop")
        wall, cpu, result = _timed(lambda: publish_snapshot(con, new, built_at=later, published_at=later))
    finally:
        con.close()
    print(f"parts, first publish (whole log): {first[0]:.2f} s wall, {first[1]:.2f} s CPU")
    print(
        f"parts, the drop's publish: {wall:.2f} s wall, {cpu:.2f} s CPU, "
        f"{result.events_written:,} of {result.events:,} events written"
    )

    old = _home_copy(args.home, args.workdir / "full")
    publish_full = _old_publish(args.old_rev)
    con = connect(old.warehouse)
    try:
        wall, cpu, result = _timed(lambda: publish_full(con, old, built_at=later, published_at=later))
    finally:
        con.close()
    print(f"full copy at {args.old_rev}, the drop's publish: {wall:.2f} s wall, {cpu:.2f} s CPU")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
