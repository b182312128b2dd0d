"""`workstream`: the scriptable entry point (generate demo data, run the pipeline once, serve, export)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from dagster_project.settings import (
    DBT_PROJECT_DIR,
    ENV_HOME,
    ENV_INBOX,
    PROJECT_ROOT,
    AsOfInFutureError,
    HomePaths,
    default_clock,
    parse_timestamp,
    refuse_future_as_of,
)

if TYPE_CHECKING:
    from dagster_project.commands.run_display import RunDisplay

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


# How queued runs start: inside the daemon (see dagster_project/defs/warm_launcher.py) or Dagster's default
# launcher (a new process per run). Env WORKSTREAM_RUN_LAUNCHER=in-process|subprocess.
RUN_LAUNCHERS = {
    "in-process": (
        "run_launcher:\n  module: dagster_project.defs.warm_launcher\n  class: InProcessThreadRunLauncher\n"
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
        # coordinator is Dagster's queued one, warming the daemon's imports (dagster_project/defs/warm_launcher.py).
        "run_coordinator:\n  module: dagster_project.defs.warm_launcher\n  class: WarmQueuedRunCoordinator\n"
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
    with _os_errors_exit_2(f"cannot write the event files to {out}"), _progress() as progress:
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


@contextlib.contextmanager
def _os_errors_exit_2(doing: str) -> Iterator[None]:
    """A path the user gave that cannot be written (a file where a folder goes, no permission, a full
    disk) ends with what could not be done and why (exit 2), not a traceback."""
    try:
        yield
    except OSError as exc:
        where = f" ({exc.filename})" if exc.filename else ""
        console.print(f"[red]{doing}: {exc.strerror or exc}{where}[/red]", soft_wrap=True)
        raise typer.Exit(2) from exc


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
    home: Path,
    inbox: Path,
    as_of: str | None = None,
    now: str | None = None,
    *,
    tests: bool = True,
    display: RunDisplay | None = None,
) -> dict:
    """Execute the same Dagster jobs the sensors launch, in this process: the build, then (unless
    `tests` is off) dbt's data tests on it, as `dbt_tests_after_build_sensor` would. Returns the counts.
    With a `display`, each job's output goes to its log and its steps show as progress bars."""
    paths = _point_env_at(home, inbox)
    ensure_dbt_manifest()
    import dagster as dg

    from dagster_project.control.run_lock import run_lock
    from dagster_project.definitions import defs
    from dagster_project.defs.transform import workstream_dbt_assets

    job = defs.resolve_job_def(JOB_NAME)
    # Without --verbose the console logger writes to the log file only: there it keeps everything.
    level = "DEBUG" if display and not display.verbose else os.environ.get("WORKSTREAM_LOG_LEVEL", "WARNING")
    run_config = {
        "resources": {"clock": {"config": {"as_of": as_of or "", "now": now or ""}}},
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
        dg.DagsterInstance.get() as instance,
    ):
        run_id = str(uuid.uuid4())
        with shown("dbt build", run_id, len(workstream_dbt_assets.keys)):
            result = job.execute_in_process(
                run_config=run_config, instance=instance, raise_on_error=False, run_id=run_id
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
    return {"run_id": result.run_id, "paths": paths, "assets": counts, "checks": checks}


def _fail_on_errors(result) -> None:
    if not result.success:
        for event in (e for e in result.all_events if e.is_failure):
            console.print(f"[red]{event.step_key or ''}: {event.message}[/red]")
        raise typer.Exit(1)


SKIPPED_LISTED = 10


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


def check_home(home: Path) -> None:
    """Refuse (exit 2) a home that is a file or cannot be written, before anything is created in it."""
    existing = next((p for p in (home, *home.parents) if p.exists()), None)
    if home.exists() and not home.is_dir():
        problem = "is a file: give a folder (it is created if missing)"
    elif existing is not None and existing.is_dir() and not os.access(existing, os.W_OK | os.X_OK):
        problem = f"cannot be written ({existing} is not writable)"
    elif existing is not None and not existing.is_dir():
        problem = f"cannot be created ({existing} is a file)"
    else:
        return
    console.print(f"[red]home {home} {problem}[/red]", soft_wrap=True)
    raise typer.Exit(2)


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
    verbose: Annotated[
        bool,
        typer.Option(
            "--verbose", "-v", help="Print every step's and dbt's detail (always in <home>/logs/run.log)."
        ),
    ] = False,
) -> None:
    """One shot: ingest every new file, apply, build, publish, then dbt's data tests; print the counts."""
    from dagster_project.commands.run_display import RunDisplay

    started = time.perf_counter()
    as_of_iso = _timestamp(as_of)
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
            out = run_pipeline(home, inbox, as_of=as_of_iso, tests=tests, display=display)
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
    table.add_row("alerts", _alerts_line(assets.get("sla_alerts", {})))
    if out["checks"]:
        table.add_row(
            "dbt data tests passed / failed", f"{out['checks']['passed']} / {out['checks']['failed']}"
        )
    table.add_row("elapsed", f"{time.perf_counter() - started:.1f} s")
    Console().print(table)
    console.print(f"the run's detail: {log}", soft_wrap=True)
    if not raw.get("files_new", 0):
        seen = raw.get("files_seen", 0)
        console.print(
            f"nothing new: every one of the {seen} event file(s) in {inbox} was ingested before"
            if seen
            else f"nothing new: no event files in {inbox}",
            soft_wrap=True,
        )


def _alerts_line(figures: dict) -> str:
    """The run summary's alert line: what the alert step recorded, or why it recorded nothing."""
    if figures.get("skipped"):
        return f"none recorded or delivered: {figures['skipped']}"
    new, suppressed = figures.get("new_alerts", 0), figures.get("suppressed", 0)
    return f"{new:,} new ({new - suppressed:,} active, {suppressed:,} suppressed)"


@contextlib.contextmanager
def _output_to_log(log: Path | None):
    """stdout and stderr appended to `log` within the block (None: left as they are)."""
    if log is None:
        yield
        return
    log.parent.mkdir(parents=True, exist_ok=True)
    with (
        log.open("a", encoding="utf-8") as handle,
        contextlib.redirect_stdout(handle),
        contextlib.redirect_stderr(handle),
    ):
        yield


@app.command()
def snapshot(
    home: Annotated[Path, typer.Option("--home", help="The home folder a `workstream run` wrote.")],
    as_of: Annotated[str, typer.Option("--as-of", help="The past time to build it as of (RFC 3339).")],
    out: Annotated[
        Path | None,
        typer.Option("--out", help="File to write (default: <home>/as-of/<as-of time in UTC>.duckdb)."),
    ] = None,
    verbose: Annotated[
        bool,
        typer.Option("--verbose", "-v", help="Print dbt's detail (always in <home>/logs/snapshot.log)."),
    ] = False,
) -> None:
    """A past snapshot as of a time, built beside the live one (which, like the warehouse, stays as it is)."""
    from dagster_project.commands.snapshot import AsOfSnapshotError, build_as_of_snapshot
    from dagster_project.serving.past_snapshots import as_of_dir

    when = parse_timestamp(_timestamp(as_of))
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    ensure_dbt_manifest()
    # The console stays calm as for `run`: dbt's lines go to the home's log unless --verbose. A home
    # that does not exist gets no log folder: the build refuses it with a message of its own.
    log = home.expanduser().resolve() / "logs" / "snapshot.log"
    screen = Console(file=sys.stderr)  # bound now: the redirect below must not swallow the status line
    try:
        with (
            screen.status(f"building a snapshot as of {when.isoformat()} beside the live one…"),
            _output_to_log(log if home.is_dir() and not verbose else None),
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


@app.command()
def serve(
    home: Annotated[Path, typer.Option("--home", help="The home folder a `workstream run` wrote.")],
    inbox: Annotated[Path | None, typer.Option("--inbox", help="Inbox the sensor watches.")] = None,
    dagster_port: Annotated[int, typer.Option(help="Dagster UI port.")] = 3000,
    streamlit_port: Annotated[int, typer.Option(help="Streamlit port.")] = 8501,
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    verbose: Annotated[
        bool,
        typer.Option("--verbose", "-v", help="Also print the services' logs here (always in <home>/logs)."),
    ] = False,
) -> None:
    """Dagster UI (sensor and schedule on) and the Streamlit dashboards on the snapshot; Ctrl-C stops both."""
    check_home(home)
    paths = _point_env_at(home, inbox or Path(os.environ.get(ENV_INBOX, PROJECT_ROOT / "data" / "inbox")))
    ensure_dbt_manifest()
    bin_dir = Path(sys.executable).parent
    logs = paths.home / "logs"
    logs.mkdir(exist_ok=True)
    commands = {
        "Dagster": [
            str(bin_dir / "dagster"),
            "dev",
            "-m",
            "dagster_project.definitions",
            "-h",
            host,
            "-p",
            str(dagster_port),
        ],
        "Streamlit": [
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
    }
    probe = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    health = {
        "Dagster": f"http://{probe}:{dagster_port}/server_info",
        "Streamlit": f"http://{probe}:{streamlit_port}/_stcore/health",
    }
    services: dict[str, subprocess.Popen] = {}
    # SIGTERM (a service manager, `kill`) and SIGHUP (a closed terminal) stop the services as Ctrl-C
    # does: by default they would end this process alone and leave both services running.
    previous = {sig: signal.signal(sig, _interrupt) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        for name, command in commands.items():
            # Each service in a session of its own, so stopping its process group reaches every process
            # it started (dagster dev: the webserver, the daemon, the code server).
            services[name] = subprocess.Popen(
                command,
                cwd=PROJECT_ROOT,
                start_new_session=True,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            )
            _keep_log(services[name], logs / f"{name.lower()}.log", echo=verbose)
        with console.status("starting Dagster and Streamlit…"):
            _wait_until_answering(services, health, logs)
        console.print(
            f"[bold]Dagster UI[/bold]   http://{host}:{dagster_port}   (inbox: {os.environ[ENV_INBOX]})",
            soft_wrap=True,
        )
        console.print(
            f"[bold]Dashboards[/bold]   http://{host}:{streamlit_port}   (snapshot: {paths.serving})",
            soft_wrap=True,
        )
        console.print(f"Logs in {logs} (--verbose prints them here). Ctrl-C stops both.", soft_wrap=True)
        while not (stopped := [n for n, p in services.items() if p.poll() is not None]):
            time.sleep(1)
        _service_stopped(stopped[0], services[stopped[0]], logs)
    except KeyboardInterrupt:
        pass
    finally:
        _stop_services(list(services.values()))
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _keep_log(proc: subprocess.Popen, log: Path, *, echo: bool) -> threading.Thread:
    """Append a service's output to its log file (everything, always); with `echo`, print it too.
    Returns the thread doing it, which ends when the service closes its output."""

    def pump() -> None:
        with log.open("ab") as handle:
            for line in proc.stdout:
                handle.write(line)
                handle.flush()
                if echo:
                    sys.stdout.buffer.write(line)
                    sys.stdout.flush()

    thread = threading.Thread(target=pump, name=f"log-{log.stem}", daemon=True)
    thread.start()
    return thread


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except (OSError, ValueError):
        return False


def _wait_until_answering(services: dict[str, subprocess.Popen], health: dict[str, str], logs: Path) -> None:
    """Return once every service answers its health URL: URLs printed before that lead nowhere."""
    waiting = dict(health)
    while waiting:
        for name, proc in services.items():
            if proc.poll() is not None:
                _service_stopped(name, proc, logs)
        for name, url in list(waiting.items()):
            if _answers(url):
                del waiting[name]
        if waiting:
            time.sleep(0.5)


def _service_stopped(name: str, proc: subprocess.Popen, logs: Path) -> None:
    console.print(
        f"[red]{name} stopped (exit code {proc.returncode}): see {logs / f'{name.lower()}.log'}[/red]",
        soft_wrap=True,
    )
    raise typer.Exit(1)


def _stop_services(procs: list[subprocess.Popen], grace_seconds: float = 20) -> None:
    """Interrupt each service's whole process group, then kill what is left after the grace time."""
    for proc in procs:
        # Also when the leader has ended: what it started (dagster dev's daemon) may still run.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGINT)
    deadline = time.monotonic() + grace_seconds
    for proc in procs:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        # The group outlives its leader when a child (the daemon, the code server) is slow to stop.
        while _group_alive(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def _group_alive(pgid: int) -> bool:
    """Whether a process of the group still runs (zombies do not count: only their parent can reap them)."""
    proc_fs = Path("/proc")
    if not proc_fs.is_dir():
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return False
        return True
    for stat in proc_fs.glob("[0-9]*/stat"):
        try:
            # Fields after the command, which is in parentheses and may hold spaces: state, ppid, pgrp.
            state, _, pgrp = stat.read_text().rsplit(")", 1)[1].split()[:3]
        except (OSError, IndexError, ValueError):
            continue
        if int(pgrp) == pgid and state != "Z":
            return True
    return False


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
        from dagster_project.serving.past_snapshots import as_of_dir

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
    """Write quarantined records as JSON Lines to fix and drop back into the inbox; beside them, in
    `<name>.reasons.tsv`, each line's reason, file and line."""
    from dagster_project.contract.events import Reason
    from dagster_project.ingestion.quarantine import export_quarantine, reasons_path

    if reason is not None and reason not in Reason.all():
        console.print(
            f"[red]unknown reason code {reason!r}; the codes are: {', '.join(Reason.all())}[/red]",
            soft_wrap=True,
        )
        raise typer.Exit(2)
    paths = HomePaths(home.resolve())
    if not paths.serving.exists():
        console.print(f"[red]no snapshot at {paths.serving}: run `workstream run` first[/red]")
        raise typer.Exit(2)
    with _os_errors_exit_2(f"cannot write {out}"):
        written, skipped = export_quarantine(paths.serving, out, reason=reason)
    which = f" with reason {reason}" if reason else ""
    if not written and not skipped:
        console.print(f"no quarantined records{which} in {paths.serving}: {out} is empty", soft_wrap=True)
        return
    console.print(
        f"wrote {written:,} records{which} to {out}, their reason, file and line to {reasons_path(out)}"
        + (f" ({skipped} whole-file entries listed in stderr)" if skipped else ""),
        soft_wrap=True,
    )


def _org_control_store(home: Path, org: str) -> Path:
    """The home's control store, refusing (exit 2) a home without one or an org it has never queued
    for: an empty answer there would read as "no dead letters" when the path or the org is wrong."""
    from dagster_project.control import outbox_reports

    control = HomePaths(home.resolve()).control
    if not home.is_dir():
        console.print(f"[red]no home at {home}[/red]", soft_wrap=True)
        raise typer.Exit(2)
    if not control.exists():
        console.print(f"[red]no control store at {control}: run `workstream run` first[/red]", soft_wrap=True)
        raise typer.Exit(2)
    orgs = [row.org_id for row in outbox_reports.health(control, default_clock().now())]
    if org not in orgs:
        known = f"; orgs with items: {', '.join(orgs)}" if orgs else ""
        console.print(f"[red]org {org!r} has no outbox items in {home}{known}[/red]", soft_wrap=True)
        raise typer.Exit(2)
    return control


@outbox_app.command("dead-letters")
def outbox_dead_letters(
    home: Annotated[Path, typer.Option("--home", help="The home folder whose control store to read.")],
    org: Annotated[str, typer.Option("--org", help="The org (every read is scoped to one org).")],
) -> None:
    """List one org's dead letters with their attempts and last error."""
    from dagster_project.control import outbox_reports

    rows = outbox_reports.dead_letters(_org_control_store(home, org), org)
    if not rows:
        console.print(f"no dead letters for org {org}")
        return
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
    from dagster_project.control import outbox, outbox_reports

    if not all_dead and not event_id:
        console.print("[red]name --event-id ID (repeatable) or --all[/red]")
        raise typer.Exit(2)
    control = _org_control_store(home, org)
    if all_dead:
        wanted = [(org, d.event_id) for d in outbox_reports.dead_letters(control, org)]
    else:
        wanted = [(org, e) for e in event_id or []]
    revived = outbox.retry_dead(control, wanted, default_clock().now())
    missing = sorted(set(wanted) - set(revived))
    console.print(f"{len(revived)} item(s) back in the queue")
    for _, eid in missing:
        console.print(f"[yellow]{eid}: not a dead letter of {org}[/yellow]")
    if missing:
        raise typer.Exit(1)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
