"""Past snapshots beside the live one: `workstream snapshot --home DIR --as-of T [--out FILE]`.

`workstream run --as-of T` moves a whole home to T (its core tables, marts and `serving.duckdb`). A past
snapshot must leave the home alone instead, so it is built in a scratch home inside the home folder: a
copy of the warehouse and of the control store (taken under the writer lock, so no run is half-way),
on which the very job the pipeline runs does the apply, the dbt build and the publish as of T. Its marts
therefore equal those of a home built with `run --as-of T` on the same events. Nothing is ingested and
no alert is recorded or sent (only the apply, dbt and publish assets run), and the scratch home is
deleted afterwards: the live snapshot, the warehouse and the control store are never written.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import duckdb
from filelock import Timeout

from dagster_project.serving.past_snapshots import (
    SCRATCH_PREFIX,
    STAGED_PREFIX,
    as_of_dir,
    scrub_past_snapshot,
)
from dagster_project.settings import HomePaths
from dagster_project.warehouse.static_nodes import copy_record
from dagster_project.warehouse.store import path_literal, writer_lock

# The apply, dbt and publish assets of the pipeline's job: no ingest (the copy already holds every
# event) and no alerts (a past snapshot pages nobody and records nothing in the control store).
AS_OF_JOB_NAME = "as_of_snapshot_job"


class AsOfSnapshotError(ValueError):
    """A past snapshot cannot be built as asked (no warehouse yet, an --out that would hit a live file)."""


class HomeBusy(RuntimeError):
    """A run kept the home's writer lock longer than the build would wait."""


@dataclass(frozen=True)
class AsOfSnapshot:
    path: Path
    as_of: datetime
    events: int
    tables: int


def default_out(paths: HomePaths, as_of: datetime) -> Path:
    """`<home>/as-of/<as-of time in UTC>.duckdb`, e.g. `20261001T000000Z.duckdb`."""
    stamp = as_of.strftime("%Y%m%dT%H%M%S")
    if as_of.microsecond:
        stamp += f".{as_of.microsecond:06d}"
    return as_of_dir(paths) / f"{stamp}Z.duckdb"


def _check_out(paths: HomePaths, out: Path) -> Path:
    out = out.expanduser().resolve()
    live = {paths.serving, paths.warehouse, paths.control}
    if out in {p.resolve() for p in live}:
        raise AsOfSnapshotError(
            f"--out {out} is one of the home's live files; a past snapshot is written beside them"
        )
    if out.is_dir():
        raise AsOfSnapshotError(f"--out {out} is a folder; name a file, e.g. {out / 'as-of.duckdb'}")
    home, past = paths.home.resolve(), as_of_dir(paths).resolve()
    if out.is_relative_to(home) and out.parent != past:
        # Anything else in the home is the pipeline's (the live Parquet log, the lock, Dagster's files).
        raise AsOfSnapshotError(
            f"--out {out} is inside the home: name a file directly under {past}, or elsewhere"
        )
    if out.name.startswith("."):
        raise AsOfSnapshotError(f"--out {out}: a dotfile reads as a file still being written; drop the dot")
    return out


def build_as_of_snapshot(
    home: Path, as_of: datetime, *, now: datetime, out: Path | None = None, lock_timeout: float = 600
) -> AsOfSnapshot:
    """Build a self-contained snapshot of `home` as of `as_of` into `out` (default under `<home>/as-of/`)."""
    paths = HomePaths(home.expanduser().resolve())
    if not paths.warehouse.exists():
        raise AsOfSnapshotError(f"no warehouse at {paths.warehouse}: run `workstream run` first")
    target = _check_out(paths, out if out is not None else default_out(paths, as_of))
    target.parent.mkdir(parents=True, exist_ok=True)
    # Named after this process, so a later scrub can remove what a killed build left behind.
    scratch = Path(tempfile.mkdtemp(prefix=f"{SCRATCH_PREFIX}{os.getpid()}-", dir=paths.home))
    staged = target.with_name(f"{STAGED_PREFIX}{os.getpid()}-{target.name}")
    try:
        work = HomePaths(scratch).ensure()
        with _home_lock(paths, lock_timeout):
            _copy_stores(paths, work)
        _run_job(work, as_of, now)
        staged.unlink(missing_ok=True)
        events, tables = _self_contained_copy(work.serving, staged)
        with _home_lock(paths, lock_timeout):
            # A publish that scrubbed text while this file was being built has not seen it: scrub it
            # against the log as it is now, before it appears where readers and later scrubs look.
            if paths.warehouse.exists():
                scrub_past_snapshot(staged, paths.warehouse)
            os.replace(staged, target)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        staged.unlink(missing_ok=True)
    return AsOfSnapshot(target, as_of, events, tables)


@contextmanager
def _home_lock(paths: HomePaths, timeout: float) -> Iterator[None]:
    try:
        with writer_lock(paths.writer_lock, timeout=timeout):
            yield
    except Timeout:
        raise HomeBusy(
            f"the home {paths.home} stayed busy for {timeout:g} s (a run holds its writer lock); try again"
        ) from None


def _copy_stores(paths: HomePaths, work: HomePaths) -> None:
    """The warehouse as its files (every writer closed its connection before releasing the lock) and
    the control store through SQLite's backup API (its writers do not take the writer lock)."""
    shutil.copyfile(paths.warehouse, work.warehouse)
    wal = Path(f"{paths.warehouse}.wal")
    if wal.exists():
        shutil.copyfile(wal, Path(f"{work.warehouse}.wal"))
    # The copy holds the live home's views and seeds: its dbt build need not make them again.
    copy_record(paths, work)
    if paths.control.exists():
        src = sqlite3.connect(f"file:{paths.control}?mode=ro", uri=True)
        dst = sqlite3.connect(work.control)
        try:
            src.backup(dst)
        finally:
            dst.close()
            src.close()


def _as_of_definitions():
    """The pipeline's definitions plus one job: its hot path without ingest and alerts.

    Defined here, not in `definitions.py`, so the Dagster UI does not offer a job that only makes sense
    against a scratch home.
    """
    import dagster as dg

    from dagster_project.definitions import defs
    from dagster_project.defs.alerting import sla_alerts
    from dagster_project.defs.ingestion import raw_ingest
    from dagster_project.defs.lifecycle import every_event_accounted_for

    job = dg.define_asset_job(
        AS_OF_JOB_NAME,
        selection=(
            dg.AssetSelection.all() - dg.AssetSelection.assets(raw_ingest, sla_alerts)
        ).without_checks()
        | dg.AssetSelection.checks(every_event_accounted_for),
        executor_def=dg.in_process_executor,
    )
    return dg.Definitions.merge(defs, dg.Definitions(jobs=[job]))


def _run_job(work: HomePaths, as_of: datetime, now: datetime) -> None:
    """The pipeline's own job, minus ingest and alerts, on the scratch home, as of `as_of`."""
    import dagster as dg

    job = _as_of_definitions().resolve_job_def(AS_OF_JOB_NAME)
    run_config = {
        "resources": {
            "workstream": {"config": {"home": str(work.home), "inbox": str(work.home / "no-inbox")}},
            "clock": {"config": {"as_of": as_of.isoformat(), "now": now.isoformat()}},
        },
        "loggers": {"console": {"config": {"log_level": os.environ.get("WORKSTREAM_LOG_LEVEL", "WARNING")}}},
    }
    # An ephemeral instance: the home's Dagster instance would list a materialization of the live
    # snapshot asset that points at a scratch file. dbt reaches the scratch warehouse through the scratch
    # home's own profile, so nothing of this run is left in the process for later builds.
    with dg.DagsterInstance.ephemeral() as instance:
        result = job.execute_in_process(run_config=run_config, instance=instance, raise_on_error=False)
    if not result.success:
        failures = [f"{e.step_key or ''}: {e.message}" for e in result.all_events if e.is_failure]
        raise RuntimeError("the as-of build failed: " + "; ".join(failures))


def _self_contained_copy(snapshot: Path, out: Path) -> tuple[int, int]:
    """Copy `snapshot` into the fresh file `out` with `marts.events` as a table, not a Parquet view."""
    con = duckdb.connect(str(out))
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.execute(f"attach {path_literal(snapshot)} as built (read_only)")
        own = con.execute("select current_database()").fetchone()[0]
        con.execute('copy from database built to "' + own.replace('"', '""') + '"')
        views = con.execute(
            "select table_name from information_schema.tables "
            "where table_catalog = current_database() and table_schema = 'marts' and table_type = 'VIEW'"
        ).fetchall()
        for (name,) in views:
            quoted = '"' + name.replace('"', '""') + '"'
            con.execute(f"drop view marts.{quoted}")
            order = " order by org_id, occurred_at, event_id" if name == "events" else ""
            con.execute(f"create table marts.{quoted} as select * from built.marts.{quoted}{order}")
        con.execute("detach built")
        events = con.execute("select count(*) from marts.events").fetchone()[0] if views else 0
        tables = con.execute(
            "select count(*) from information_schema.tables where table_catalog = current_database()"
        ).fetchone()[0]
        con.execute("checkpoint")
    finally:
        con.close()
    return events, tables


def write_past_snapshot(home: Path, when: datetime, out: Path | None, *, verbose: bool) -> None:
    """What `workstream snapshot` does: build, say where the file went, and warn when readers miss it."""
    import sys

    import typer
    from rich.console import Console

    from dagster_project.commands.common import console, output_to_log
    from dagster_project.commands.dagster_home import ensure_dbt_manifest
    from dagster_project.settings import default_clock

    ensure_dbt_manifest()
    # The console stays calm as for `run`: dbt's lines go to the home's log unless --verbose. A home
    # that does not exist gets no log folder: the build refuses it with a message of its own.
    log = home.expanduser().resolve() / "logs" / "snapshot.log"
    screen = Console(file=sys.stderr)  # bound now: the redirect below must not swallow the status line
    try:
        with (
            screen.status(f"building a snapshot as of {when.isoformat()} beside the live one…"),
            output_to_log(log if home.is_dir() and not verbose else None),
        ):
            result = build_as_of_snapshot(home, when, now=default_clock().now(), out=out)
    except AsOfSnapshotError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    except RuntimeError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None
    console.print(f"wrote {result.path} as of {when.isoformat()} ({result.events:,} events)")
    if result.path.parent != as_of_dir(HomePaths(home.expanduser().resolve())):
        console.print(
            "[yellow]outside <home>/as-of/: dashboards do not list it and later redactions do not reach it[/yellow]"
        )
