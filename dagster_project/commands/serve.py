"""`workstream serve`: the Dagster UI and the Streamlit dashboards as child processes, stopped together."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import typer

from dagster_project.commands.common import check_home, console
from dagster_project.commands.dagster_home import ensure_dbt_manifest, service_environment
from dagster_project.settings import ENV_INBOX, PROJECT_ROOT, HomePaths


def serve_services(
    home: Path, inbox: Path | None, *, dagster_port: int, streamlit_port: int, host: str, verbose: bool
) -> None:
    """Start both services on `home`, print their URLs once they answer, stop both when one stops or
    on Ctrl-C, SIGTERM or SIGHUP."""
    check_home(home)
    paths = HomePaths(home.resolve()).ensure()
    watched = inbox or Path(os.environ.get(ENV_INBOX, PROJECT_ROOT / "data" / "inbox"))
    # The services learn the home and inbox from their environment, given here: ours stays as it is.
    env = service_environment(paths, watched)
    ensure_dbt_manifest(paths.warehouse)
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
    previous = catch_stop_signals()
    try:
        for name, command in commands.items():
            # Each service in a session of its own, so stopping its process group reaches every process
            # it started (dagster dev: the webserver, the daemon, the code server).
            services[name] = subprocess.Popen(
                command,
                cwd=PROJECT_ROOT,
                env=env,
                start_new_session=True,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            )
            _keep_log(services[name], logs / f"{name.lower()}.log", echo=verbose)
        with console.status("starting Dagster and Streamlit…"):
            _wait_until_answering(services, health, logs)
        console.print(
            f"[bold]Dagster UI[/bold]   http://{host}:{dagster_port}   (inbox: {env[ENV_INBOX]})",
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


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def catch_stop_signals() -> dict[int, object]:
    """Make Ctrl-C, SIGTERM (a service manager, `kill`) and SIGHUP (a closed terminal) stop the services;
    the handlers they replace. By default SIGTERM and SIGHUP would end this process alone and leave both
    services running, and a `serve` started in the background of a script (`workstream serve &`, nohup)
    inherits SIGINT ignored, as would the services it starts: caught here, the services start with
    SIGINT's default again (a caught signal is reset on exec, an ignored one is not), so they stop
    cleanly when interrupted."""
    return {sig: signal.signal(sig, _interrupt) for sig in STOP_SIGNALS}


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
