"""`workstream`: the scriptable entry point (generate demo data, run the pipeline once, serve, export)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from dagster_project.settings import (
    DBT_PROJECT_DIR,
    ENV_HOME,
    ENV_INBOX,
    PROJECT_ROOT,
    HomePaths,
    default_clock,
    parse_timestamp,
)

app = typer.Typer(help="Workstream: sales events in, validated, modelled and served.", no_args_is_help=True)
quarantine_app = typer.Typer(help="Work with quarantined input records.", no_args_is_help=True)
app.add_typer(quarantine_app, name="quarantine")
outbox_app = typer.Typer(help="Inspect dead letters and retry them after a fix.", no_args_is_help=True)
app.add_typer(outbox_app, name="outbox")
console = Console(stderr=True)
JOB_NAME = "ingest_build_publish_job"
TESTS_JOB_NAME = "dbt_tests_job"


def _timestamp(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return parse_timestamp(value).isoformat()
    except ValueError as exc:
        raise typer.BadParameter(
            f"{value!r}: {exc}; use RFC 3339 with an offset, e.g. 2026-11-27T17:00:00Z"
        ) from exc


def _point_env_at(home: Path, inbox: Path | None = None) -> HomePaths:
    paths = HomePaths(home.resolve()).ensure()
    os.environ[ENV_HOME] = str(paths.home)
    if inbox is not None:
        os.environ[ENV_INBOX] = str(inbox.resolve())
    os.environ["WORKSTREAM_WAREHOUSE"] = str(paths.warehouse)
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    os.environ["DAGSTER_HOME"] = str(write_dagster_home(paths))
    # dagster-dbt and `dagster dev` look for dbt on PATH.
    bin_dir = str(Path(sys.executable).parent)
    if bin_dir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")
    return paths


# How queued runs start: inside the daemon (see dagster_project/launcher.py) or Dagster's default
# launcher (a new process per run). Env WORKSTREAM_RUN_LAUNCHER=in-process|subprocess.
RUN_LAUNCHERS = {
    "in-process": (
        "run_launcher:\n  module: dagster_project.launcher\n  class: InProcessThreadRunLauncher\n"
    ),
    "subprocess": "",
}


def run_launcher_choice() -> str:
    choice = os.environ.get("WORKSTREAM_RUN_LAUNCHER", "in-process").strip() or "in-process"
    if choice not in RUN_LAUNCHERS:
        raise typer.BadParameter(f"WORKSTREAM_RUN_LAUNCHER={choice!r}: use one of {', '.join(RUN_LAUNCHERS)}")
    return choice


def write_dagster_home(paths: HomePaths) -> Path:
    """A Dagster instance per home: one run at a time (writers never overlap), no telemetry."""
    paths.dagster_home.mkdir(parents=True, exist_ok=True)
    (paths.dagster_home / "dagster.yaml").write_text(
        "telemetry:\n  enabled: false\n"
        # One run at a time; the queue is checked every second, not Dagster's default 5 s (freshness); the
        # coordinator is Dagster's queued one, warming the daemon's imports (dagster_project/launcher.py).
        "run_coordinator:\n  module: dagster_project.launcher\n  class: WarmQueuedRunCoordinator\n"
        "  config:\n    max_concurrent_runs: 1\n    dequeue_interval_seconds: 1\n"
        + RUN_LAUNCHERS[run_launcher_choice()]
    )
    return paths.dagster_home


def ensure_dbt_manifest() -> None:
    """Dagster's dbt assets are built from dbt's manifest; parse once if it is missing."""
    if (DBT_PROJECT_DIR / "target" / "manifest.json").exists():
        return
    console.print("[dim]parsing the dbt project (first run)…[/dim]")
    subprocess.run(
        [
            str(Path(sys.executable).parent / "dbt"),
            "parse",
            "--project-dir",
            str(DBT_PROJECT_DIR),
            "--profiles-dir",
            str(DBT_PROJECT_DIR),
            "--quiet",
        ],
        check=True,
        env={
            **os.environ,
            "WORKSTREAM_WAREHOUSE": os.environ.get("WORKSTREAM_WAREHOUSE", "/tmp/parse.duckdb"),
        },
    )


@app.command()
def generate(
    out: Annotated[Path, typer.Option("--out", help="Folder to write event files into.")],
    orgs: Annotated[int, typer.Option(min=1, help="Number of tenants.")] = 3,
    events: Annotated[int, typer.Option(min=1, help="Approximate number of valid events.")] = 10_000,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed gives the same files.")] = 7,
    bad_rate: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Share of malformed/duplicate lines.")
    ] = 0.0,
    end: Annotated[
        str | None, typer.Option(help="Last event time (RFC 3339); default 2026-11-27T17:00:00Z.")
    ] = None,
    files: Annotated[
        int | None, typer.Option(min=1, help="Number of files (default: one per 250k events).")
    ] = None,
    span_days: Annotated[
        int,
        typer.Option(
            min=70,  # generator.engine.MIN_SPAN_DAYS (not imported here: the CLI starts fast)
            help="Days of history the events cover, ending at --end: more days at the same --events "
            "means a lower activity rate.",
        ),
    ] = 120,
) -> None:
    """Write deterministic, realistic multi-org sales activity in JSONL, JSONL.gz, CSV and Parquet."""
    from dagster_project.generator import generate as run_generator

    kwargs = {"end": parse_timestamp(_timestamp(end))} if end else {}
    with _progress() as progress:
        task = progress.add_task("generating events", total=events)
        result = run_generator(
            out,
            orgs=orgs,
            events=events,
            seed=seed,
            bad_rate=bad_rate,
            files=files,
            span_days=span_days,
            progress=lambda n: progress.advance(task, n),
            **kwargs,
        )
    console.print(
        f"wrote {result.events:,} events ({result.lines:,} lines, {sum(result.bad_lines.values()):,} malformed, "
        f"{result.identical_duplicates:,} duplicates) to {len(result.files)} files in {out}"
    )


def _progress() -> Progress:
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:,}"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


def run_pipeline(
    home: Path, inbox: Path, as_of: str | None = None, now: str | None = None, *, tests: bool = True
) -> dict:
    """Execute the same Dagster jobs the sensors launch, in this process: the build, then (unless
    `tests` is off) dbt's data tests on it, as `dbt_tests_after_build_sensor` would. Returns the counts."""
    paths = _point_env_at(home, inbox)
    ensure_dbt_manifest()
    import dagster as dg

    from dagster_project.definitions import defs

    job = defs.resolve_job_def(JOB_NAME)
    run_config = {
        "resources": {"clock": {"config": {"as_of": as_of or "", "now": now or ""}}},
        "loggers": {"console": {"config": {"log_level": os.environ.get("WORKSTREAM_LOG_LEVEL", "WARNING")}}},
    }
    with dg.DagsterInstance.get() as instance:
        result = job.execute_in_process(run_config=run_config, instance=instance, raise_on_error=False)
        _fail_on_errors(result)
        checks: dict[str, int] = {}
        if tests:
            tested = defs.resolve_job_def(TESTS_JOB_NAME).execute_in_process(
                run_config=run_config, instance=instance, raise_on_error=False
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
    return {"run_id": result.run_id, "paths": paths, "assets": counts, "checks": checks}


def _fail_on_errors(result) -> None:
    if not result.success:
        for event in (e for e in result.all_events if e.is_failure):
            console.print(f"[red]{event.step_key or ''}: {event.message}[/red]")
        raise typer.Exit(1)


@app.command()
def run(
    inbox: Annotated[Path, typer.Option("--inbox", help="Folder of event files to ingest.")],
    home: Annotated[
        Path, typer.Option("--home", help="Folder for the warehouse, control store and snapshot.")
    ],
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Compute outputs as of this time (RFC 3339).")
    ] = None,
    tests: Annotated[
        bool, typer.Option("--tests/--skip-tests", help="Run dbt's data tests after the build.")
    ] = True,
) -> None:
    """One shot: ingest every new file, apply, build, publish, then dbt's data tests; print the counts."""
    started = time.perf_counter()
    as_of_iso = _timestamp(as_of)
    if not inbox.exists():
        console.print(f"[red]inbox {inbox} does not exist[/red]")
        raise typer.Exit(2)
    with console.status(
        "running ingest → apply → dbt → publish → tests (progress shows in the Dagster UI when served)…"
    ):
        out = run_pipeline(home, inbox, as_of=as_of_iso, tests=tests)
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
    table.add_row("events in snapshot", f"{snap.get('events', 0):,}")
    table.add_row("snapshot", f"{snap.get('path', '')} ({snap.get('snapshot_version', '')})")
    if out["checks"]:
        table.add_row(
            "dbt data tests passed / failed", f"{out['checks']['passed']} / {out['checks']['failed']}"
        )
    table.add_row("elapsed", f"{time.perf_counter() - started:.1f} s")
    Console().print(table)


@app.command()
def snapshot(
    home: Annotated[Path, typer.Option("--home", help="The home folder a `workstream run` wrote.")],
    as_of: Annotated[str, typer.Option("--as-of", help="The past time to build it as of (RFC 3339).")],
    out: Annotated[
        Path | None,
        typer.Option("--out", help="File to write (default: <home>/as-of/<as-of time in UTC>.duckdb)."),
    ] = None,
) -> None:
    """A past snapshot as of a time, built beside the live one (which, like the warehouse, stays as it is)."""
    from dagster_project.as_of_snapshot import AsOfSnapshotError, as_of_dir, build_as_of_snapshot

    when = parse_timestamp(_timestamp(as_of))
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    ensure_dbt_manifest()
    try:
        with console.status(f"building a snapshot as of {when.isoformat()} beside the live one…"):
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


@app.command()
def serve(
    home: Annotated[Path, typer.Option("--home", help="The home folder a `workstream run` wrote.")],
    inbox: Annotated[Path | None, typer.Option("--inbox", help="Inbox the sensor watches.")] = None,
    dagster_port: Annotated[int, typer.Option(help="Dagster UI port.")] = 3000,
    streamlit_port: Annotated[int, typer.Option(help="Streamlit port.")] = 8501,
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
) -> None:
    """Dagster UI (sensor and schedule on) and the Streamlit dashboards on the snapshot; Ctrl-C stops both."""
    paths = _point_env_at(home, inbox or Path(os.environ.get(ENV_INBOX, PROJECT_ROOT / "data" / "inbox")))
    ensure_dbt_manifest()
    bin_dir = Path(sys.executable).parent
    procs = [
        subprocess.Popen(
            [
                str(bin_dir / "dagster"),
                "dev",
                "-m",
                "dagster_project.definitions",
                "-h",
                host,
                "-p",
                str(dagster_port),
            ],
            cwd=PROJECT_ROOT,
            start_new_session=True,
        ),
        subprocess.Popen(
            [
                str(bin_dir / "streamlit"),
                "run",
                str(PROJECT_ROOT / "streamlit_app" / "app.py"),
                "--server.headless",
                "true",
                "--server.address",
                host,
                "--server.port",
                str(streamlit_port),
                "--browser.gatherUsageStats",
                "false",
            ],
            cwd=PROJECT_ROOT,
            start_new_session=True,
        ),
    ]
    console.print(
        f"[bold]Dagster UI[/bold]   http://{host}:{dagster_port}   (inbox: {os.environ[ENV_INBOX]})"
    )
    console.print(f"[bold]Dashboards[/bold]   http://{host}:{streamlit_port}   (snapshot: {paths.serving})")
    console.print("Ctrl-C stops both.")
    try:
        while all(p.poll() is None for p in procs):
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        for proc in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGINT)
        deadline = time.monotonic() + 20
        for proc in procs:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


@app.command()
def api(
    home: Annotated[Path, typer.Option("--home", help="The home folder whose snapshot to serve.")],
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="HTTP port.")] = 8000,
    snapshot: Annotated[
        Path | None,
        typer.Option(
            "--snapshot",
            help="Serve this past snapshot (a file or a name in <home>/as-of/) instead of the live one.",
        ),
    ] = None,
) -> None:
    """The read-only HTTP API on the snapshot (cards, search, Today panel); docs at /docs. No access control."""
    import uvicorn

    from dagster_project.api import create_app

    paths = HomePaths(home.resolve())
    if snapshot is not None:
        from dagster_project.as_of_snapshot import as_of_dir

        past = snapshot if snapshot.is_file() else as_of_dir(paths) / snapshot.name
        if not past.is_file():
            console.print(
                f"[red]no past snapshot {snapshot} (nor {past}): `workstream snapshot` writes one[/red]"
            )
            raise typer.Exit(2)
        served = past.resolve()
    else:
        served = paths.serving
        if not served.exists():
            console.print(
                f"[yellow]no snapshot at {served} yet: routes answer 503 until one is published[/yellow]"
            )
    console.print(f"[bold]API[/bold]   http://{host}:{port}/docs   (snapshot: {served})")
    app_ = create_app(paths.home, snapshot=served if snapshot is not None else None)
    uvicorn.run(app_, host=host, port=port, log_level="warning")


@quarantine_app.command("export")
def quarantine_export(
    home: Annotated[Path, typer.Option("--home", help="The home folder whose snapshot to read.")],
    out: Annotated[
        Path, typer.Option("--out", help="JSON Lines file to write (fix it, drop it in the inbox).")
    ],
    reason: Annotated[str | None, typer.Option("--reason", help="Only this reason code.")] = None,
) -> None:
    """Write quarantined records as JSON Lines to fix and drop back into the inbox."""
    from dagster_project.quarantine import export_quarantine

    paths = HomePaths(home.resolve())
    if not paths.serving.exists():
        console.print(f"[red]no snapshot at {paths.serving}: run `workstream run` first[/red]")
        raise typer.Exit(2)
    written, skipped = export_quarantine(paths.serving, out, reason=reason)
    console.print(
        f"wrote {written:,} records to {out}"
        + (f" ({skipped} whole-file entries listed in stderr)" if skipped else "")
    )


@outbox_app.command("dead-letters")
def outbox_dead_letters(
    home: Annotated[Path, typer.Option("--home", help="The home folder whose control store to read.")],
    org: Annotated[str, typer.Option("--org", help="The org (every read is scoped to one org).")],
) -> None:
    """List one org's dead letters with their attempts and last error."""
    from dagster_project import outbox

    rows = outbox.dead_letters(HomePaths(home.resolve()).control, org)
    table = Table(title=f"dead letters of {org}: {len(rows)}")
    for name in ("event_id", "entity", "attempts", "dead_at", "last_error"):
        table.add_column(name)
    for d in rows:
        table.add_row(
            d.event_id,
            f"{d.entity_type}:{d.entity_id}",
            str(d.attempts),
            d.dead_at.isoformat(),
            d.last_error or "",
        )
    Console().print(table)


@outbox_app.command("retry")
def outbox_retry(
    home: Annotated[Path, typer.Option("--home", help="The home folder whose control store to change.")],
    org: Annotated[str, typer.Option("--org", help="The org the items belong to.")],
    event_id: Annotated[
        list[str] | None, typer.Option("--event-id", help="A dead-lettered event to retry (repeatable).")
    ] = None,
    all_dead: Annotated[bool, typer.Option("--all", help="Retry every dead letter of the org.")] = False,
) -> None:
    """Put dead letters back in the queue (attempts reset); the outbox sensor or the next run applies them."""
    from dagster_project import outbox

    paths = HomePaths(home.resolve())
    if all_dead:
        wanted = [(org, d.event_id) for d in outbox.dead_letters(paths.control, org)]
    elif event_id:
        wanted = [(org, e) for e in event_id]
    else:
        console.print("[red]name --event-id ID (repeatable) or --all[/red]")
        raise typer.Exit(2)
    revived = outbox.retry_dead(paths.control, wanted, default_clock().now())
    missing = sorted(set(wanted) - set(revived))
    console.print(f"{len(revived)} item(s) back in the queue")
    for _, eid in missing:
        console.print(f"[yellow]{eid}: not a dead letter of {org}[/yellow]")
    if missing:
        raise typer.Exit(1)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
