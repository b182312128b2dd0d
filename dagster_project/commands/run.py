"""`workstream run`: the pipeline's jobs once, in this process, then a summary of what they did."""

from __future__ import annotations

import contextlib
import os
import sys
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.table import Table

from dagster_project.commands.common import check_home, console
from dagster_project.commands.dagster_home import ensure_dbt_manifest, write_dagster_home
from dagster_project.settings import (
    AsOfInFutureError,
    HomePaths,
    default_clock,
    parse_timestamp,
    refuse_future_as_of,
)

if TYPE_CHECKING:
    import dagster as dg

    from dagster_project.commands.run_display import RunDisplay

JOB_NAME = "ingest_build_publish_job"
TESTS_JOB_NAME = "dbt_tests_job"
ENRICHMENT_JOB_NAME = "enrichment_job"
SKIPPED_LISTED = 10


def run_pipeline(
    home: Path,
    inbox: Path,
    as_of: str | None = None,
    now: str | None = None,
    *,
    tests: bool = True,
    full_refresh: bool = False,
    display: RunDisplay | None = None,
    instance: dg.DagsterInstance | None = None,
) -> dict:
    """Execute the same Dagster jobs the sensors launch, in this process: the build, then (unless
    `tests` is off) dbt's data tests on it, as `dbt_tests_after_build_sensor` would. Returns the counts.
    With a `display`, each job's output goes to its log and its steps show as progress bars.
    `full_refresh` rebuilds dbt's incremental models whole and scores every org again (the same rows as
    the incremental path).
    `instance`: the Dagster instance the jobs run in; by default the home's own, whose run history
    `dagster dev` shows. Tests that check what a run builds pass Dagster's ephemeral one."""
    paths = HomePaths(home.resolve()).ensure()
    instance_dir = write_dagster_home(paths)
    ensure_dbt_manifest(paths.warehouse)

    from dagster_project.control.run_lock import run_lock
    from dagster_project.definitions import defs
    from dagster_project.defs.transform import dbt_build_parts, workstream_dbt_assets

    job = defs.resolve_job_def(JOB_NAME)
    # Without --verbose the console logger writes to the log file only: there it keeps everything.
    level = "DEBUG" if display and not display.verbose else os.environ.get("WORKSTREAM_LOG_LEVEL", "WARNING")
    # The home and inbox reach the job as its resources' config, not through this process's
    # environment: a run called in-process must leave its caller's environment as it was.
    run_config = {
        "resources": {
            "workstream": {"config": {"home": str(paths.home), "inbox": str(inbox.resolve())}},
            "clock": {"config": {"as_of": as_of or "", "now": now or ""}},
        },
        "loggers": {"console": {"config": {"log_level": level}}},
    }

    def shown(label: str, run_id: str, parts: int) -> contextlib.AbstractContextManager:
        if display is None:
            return contextlib.nullcontext()
        return display.job(instance, run_id, label, {"workstream_dbt_assets": parts})

    waiting = (
        f"waiting for the run in progress in {paths.home} (another `workstream run`, or `serve`'s) to finish…"
    )
    with (
        run_lock(paths.home, on_wait=lambda: console.print(waiting, soft_wrap=True)),
        _instance(instance_dir, instance) as instance,
    ):
        run_id = str(uuid.uuid4())
        build_config = run_config
        if full_refresh:
            build_config = {
                **run_config,
                "ops": {
                    "workstream_dbt_assets": {"config": {"full_refresh": True}},
                    "win_scoring": {"config": {"full_refresh": True}},
                },
            }
        with shown("dbt build", run_id, dbt_build_parts(paths, full_refresh=full_refresh)):
            result = job.execute_in_process(
                run_config=build_config, instance=instance, raise_on_error=False, run_id=run_id
            )
        _fail_on_errors(result)
        checks: dict[str, int] = {}
        if tests:
            run_id = str(uuid.uuid4())
            with shown("dbt tests", run_id, len(workstream_dbt_assets.check_keys)):
                tested = defs.resolve_job_def(TESTS_JOB_NAME).execute_in_process(
                    run_config=run_config, instance=instance, raise_on_error=False, run_id=run_id
                )
            _fail_on_errors(tested)
            evaluations = [
                e.event_specific_data
                for e in tested.all_events
                if e.event_type_value == "ASSET_CHECK_EVALUATION"
            ]
            failed = [ev for ev in evaluations if not ev.passed]
            for ev in failed:
                console.print(f"[red]dbt test failed: {ev.asset_check_key.to_user_string()}[/red]")
            checks = {"passed": len(evaluations) - len(failed), "failed": len(failed)}
            if failed:
                raise typer.Exit(1)
    counts = {}
    for event in result.get_asset_materialization_events():
        mat = event.event_specific_data.materialization
        counts[mat.asset_key.to_user_string()] = {k: v.value for k, v in mat.metadata.items()}
    enrichment = _enrich(paths, instance_dir, run_config, instance)
    return {
        "run_id": result.run_id,
        "paths": paths,
        "assets": counts,
        "checks": checks,
        "enrichment": enrichment,
    }


def _instance(
    instance_dir: Path, given: dg.DagsterInstance | None
) -> contextlib.AbstractContextManager[dg.DagsterInstance]:
    """`given`, or the home's own instance (its dagster.yaml, its run history), opened from its folder
    rather than through DAGSTER_HOME: `local_temp` is Dagster's public constructor for an instance in a
    given folder, persistent despite its name."""
    import dagster as dg

    if given is not None:
        return contextlib.nullcontext(given)
    return dg.DagsterInstance.local_temp(tempdir=str(instance_dir))


def _enrich(
    paths: HomePaths, instance_dir: Path, run_config: dict, given: dg.DagsterInstance | None = None
) -> dict | None:
    """The enrichment job of `serve`'s sensor (docs/mcp.md), here once the snapshot is published and the
    run lock released: its calls hold up no build, and its answers reach the inbox for the next run."""

    from dagster_project.definitions import defs
    from dagster_project.mcp.enrichment import declarations_present

    if not declarations_present(paths.home):
        return None  # nothing declared: no job to run
    # Its warnings are the problems printed below: the console logger keeps to errors.
    quiet = {**run_config, "loggers": {"console": {"config": {"log_level": "ERROR"}}}}
    with _instance(instance_dir, given) as instance:
        result = defs.resolve_job_def(ENRICHMENT_JOB_NAME).execute_in_process(
            run_config=quiet, instance=instance, raise_on_error=False
        )
    figures = {
        key: value.value
        for event in result.get_asset_materialization_events()
        for key, value in event.event_specific_data.materialization.metadata.items()
    }
    if not figures:  # the step failed: say so, the run itself stands
        figures = {"calls": 0, "outcomes": {}, "events_written": 0, "problems": ["enrichment step failed"]}
        for event in (e for e in result.all_events if e.is_failure):
            figures["problems"].append(f"{event.step_key or ''}: {event.message}")
    for problem in figures["problems"]:
        console.print(f"[yellow]{problem}[/yellow]", soft_wrap=True)
    return figures if figures["calls"] or figures["problems"] else None


# What dbt says when an incremental mart's columns no longer match the model (`on_schema_change: fail`):
# a new version of the project changed them, and one full refresh rebuilds those marts.
SCHEMA_CHANGED = "schemas on this incremental model are out of sync"


def _error_text(event) -> str:
    """A failure event's error with its causes, as one text; empty for an event without one."""
    error, parts = getattr(event.event_specific_data, "error", None), []
    while error is not None:
        parts.append(error.message)
        error = error.cause
    return "\n".join(parts)


def _fail_on_errors(result) -> None:
    if not result.success:
        failures = [e for e in result.all_events if e.is_failure]
        for event in failures:
            console.print(f"[red]{event.step_key or ''}: {event.message}[/red]")
        if any(SCHEMA_CHANGED in _error_text(event) for event in failures):
            console.print(
                "the columns of a mart kept incrementally changed with this version of the project: run "
                "`workstream run --full-refresh` once (docs/operations.md, After an upgrade)",
                soft_wrap=True,
                markup=False,
            )
        raise typer.Exit(1)


def check_inbox(inbox: Path) -> list[Path]:
    """Refuse (exit 2) an inbox that cannot be one, so a run never reports a silent "0 / 0"; list
    (and return) the files the ingest will pass over because it reads no such kind."""
    from dagster_project.ingestion.readers import FORMATS, file_format

    if not inbox.exists():
        console.print(f"[red]inbox {inbox} does not exist[/red]", soft_wrap=True)
        raise typer.Exit(2)
    if not inbox.is_dir():
        console.print(
            f"[red]inbox {inbox} is a file: give the folder that holds the event files[/red]", soft_wrap=True
        )
        raise typer.Exit(2)
    try:
        # The ingest's walk (rglob) passes over a folder it may not list: it would look empty.
        with os.scandir(inbox):
            pass
    except OSError as exc:
        console.print(f"[red]cannot read inbox {inbox}: {exc.strerror or exc}[/red]", soft_wrap=True)
        raise typer.Exit(2) from exc
    kinds = ", ".join(FORMATS)
    skipped = [
        path
        for path in sorted(inbox.rglob("*"))
        if path.is_file()
        # Dotfiles and *.tmp are files still being written, by convention (README): not skipped.
        and not any(part.startswith(".") for part in path.relative_to(inbox).parts)
        and not path.name.endswith(".tmp")
        and file_format(path) is None
    ]
    # A folder of thousands of other files must not flood the console: name a few, count the rest.
    for path in skipped[:SKIPPED_LISTED]:
        console.print(f"[yellow]skipped {path}: not an event file ({kinds})[/yellow]", soft_wrap=True)
    if len(skipped) > SKIPPED_LISTED:
        console.print(f"[yellow]skipped {len(skipped) - SKIPPED_LISTED:,} more files of other kinds[/yellow]")
    return skipped


def run_once(
    inbox: Path,
    home: Path,
    as_of_iso: str | None,
    *,
    tests: bool,
    verbose: bool,
    full_refresh: bool = False,
) -> None:
    """What `workstream run` does: refuse what cannot be run, run with progress bars, print the summary."""
    from dagster_project.commands.run_display import RunDisplay

    started = time.perf_counter()
    if as_of_iso is not None:
        try:
            refuse_future_as_of(parse_timestamp(as_of_iso), default_clock().now())
        except AsOfInFutureError as exc:
            console.print(f"[red]{exc}[/red]")
            raise typer.Exit(2) from exc
    check_inbox(inbox)
    check_home(home)
    log = home.resolve() / "logs" / "run.log"
    # The bars go to the terminal as it is now: while a job runs, its output goes to the log instead.
    display = RunDisplay(log, Console(file=sys.stderr), verbose=verbose)
    status = (
        console.status("running ingest → apply → dbt → publish → tests…")
        if verbose
        else contextlib.nullcontext()
    )
    try:
        with status:
            out = run_pipeline(
                home, inbox, as_of=as_of_iso, tests=tests, full_refresh=full_refresh, display=display
            )
    except typer.Exit:
        console.print(f"the run's detail: {log}", soft_wrap=True)
        raise
    assets = out["assets"]
    raw = assets.get("raw/events", {})
    quarantine = assets.get("raw/quarantine", {})
    ledger = assets.get("raw/ingest_ledger", {})
    snap = assets.get("serving_snapshot", {})
    table = Table(title=f"workstream run {out['run_id'][:8]}", show_header=False)
    table.add_row("files new / seen", f"{raw.get('files_new', 0)} / {raw.get('files_seen', 0)}")
    table.add_row("lines", f"{ledger.get('lines', 0):,}")
    table.add_row("accepted", f"{raw.get('accepted', 0):,}")
    table.add_row("duplicates", f"{raw.get('duplicates', 0):,}")
    table.add_row("quarantined", f"{quarantine.get('quarantined', 0):,}")
    for key, value in sorted(quarantine.items()):
        if key.startswith("reason/"):
            table.add_row(f"  {key.removeprefix('reason/')}", f"{value:,}")
    applied = assets.get("core/event_outcomes", {})
    table.add_row(
        "outbox applied / retrying / dead",
        f"{applied.get('completed', 0):,} / {applied.get('retrying', 0):,} / {applied.get('dead_lettered', 0):,}",
    )
    for failed in applied.get("failed_clusters") or []:  # skipped alone; the rest of the batch applied
        table.add_row(
            f"  skipped: {failed['org_id']} {failed['cluster_id']}",
            f"{failed['retrying']:,} retrying / {failed['dead_lettered']:,} dead: {failed['error'][:120]}",
        )
    table.add_row("events in snapshot", f"{snap.get('events', 0):,}")
    table.add_row("snapshot", f"{snap.get('path', '')} ({snap.get('snapshot_version', '')})")
    table.add_row("alerts", alerts_line(assets.get("sla_alerts", {})))
    if out.get("enrichment"):
        table.add_row("enrichment calls", enrichment_line(out["enrichment"]))
    if out["checks"]:
        table.add_row(
            "dbt data tests passed / failed", f"{out['checks']['passed']} / {out['checks']['failed']}"
        )
    table.add_row("elapsed", f"{time.perf_counter() - started:.1f} s")
    Console().print(table)
    print_quarantined(quarantine, home)
    console.print(f"the run's detail: {log}", soft_wrap=True)
    if not raw.get("files_new", 0):
        seen = raw.get("files_seen", 0)
        console.print(
            f"nothing new: every one of the {seen} event file(s) in {inbox} was ingested before"
            if seen
            else f"nothing new: no event files in {inbox}",
            soft_wrap=True,
        )


def print_quarantined(figures: dict, home: Path) -> None:
    """Name the run's first quarantined lines by file, line and reason, and say where the rest are."""
    from dagster_project.ingestion.quarantine import quarantined_line

    named = figures.get("first_quarantined") or []
    if not named:
        return
    console.print("quarantined lines (file, line, reason):")
    for q in named:
        console.print(f"  {quarantined_line(q)}", soft_wrap=True, markup=False)
    more = figures.get("quarantined", 0) - len(named)
    if more > 0:
        console.print(f"  and {more:,} more")
    console.print(
        f"fix and drop them back: workstream quarantine export --home {home} --all-orgs --out FILE "
        "(the Data quality page lists them too)",
        soft_wrap=True,
        markup=False,
    )


def enrichment_line(summary: dict) -> str:
    """The run summary's enrichment line: the calls made by outcome, and the events they gave."""
    outcomes = ", ".join(f"{n:,} {outcome}" for outcome, n in sorted(summary["outcomes"].items())) or "none"
    return f"{summary['calls']:,} ({outcomes}); {summary['events_written']:,} events to the inbox"


def alerts_line(figures: dict) -> str:
    """The run summary's alert line: what the alert step recorded, or why it recorded nothing."""
    if figures.get("skipped"):
        return f"none recorded or delivered: {figures['skipped']}"
    new, suppressed = figures.get("new_alerts", 0), figures.get("suppressed", 0)
    return f"{new:,} new ({new - suppressed:,} active, {suppressed:,} suppressed)"
