"""`workstream serve`: a calm console, URLs that answer when printed, and nothing left after SIGTERM."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads the process tree from /proc")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _process_table() -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, state) of every process."""
    table = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            state, ppid = stat.read_text().rsplit(")", 1)[1].split()[:2]
        except (OSError, IndexError):
            continue
        table[int(stat.parent.name)] = (int(ppid), state)
    return table


def _descendants(root: int) -> set[int]:
    table = _process_table()
    found, frontier = set(), {root}
    while frontier:
        children = {pid for pid, (ppid, _) in table.items() if ppid in frontier} - found
        found |= children
        frontier = children
    return found


def _running(pids: set[int]) -> set[int]:
    table = _process_table()
    return {pid for pid in pids if pid in table and table[pid][1] != "Z"}


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status == 200
    except OSError:
        return False


def test_serve_prints_answering_urls_keeps_its_logs_in_files_and_stops_everything_on_sigterm(tmp_path: Path):
    home, inbox = tmp_path / "home", tmp_path / "inbox"
    inbox.mkdir()
    dagster_port, streamlit_port = _free_port(), _free_port()
    serve = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "workstream"),
            "serve",
            "--home",
            str(home),
            "--inbox",
            str(inbox),
            "--dagster-port",
            str(dagster_port),
            "--streamlit-port",
            str(streamlit_port),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    out: list[str] = []
    reader = threading.Thread(target=lambda: out.extend(serve.stdout), daemon=True)
    reader.start()
    started: set[int] = set()
    try:
        console = []
        for line in serve.stderr:
            console.append(line)
            if line.startswith("Dashboards"):
                break
        assert any(line.startswith("Dagster UI") for line in console), console
        # Printed means answering: both services answer the moment their URLs appear.
        assert _answers(f"http://127.0.0.1:{dagster_port}/server_info")
        assert _answers(f"http://127.0.0.1:{streamlit_port}/_stcore/health")
        started = _descendants(serve.pid)
        assert len(started) >= 4, started  # dagster dev, its webserver and daemon, Streamlit

        serve.send_signal(signal.SIGTERM)
        rest, _ = serve.communicate(timeout=120)
        console.append(rest)
        reader.join(timeout=30)
        assert serve.returncode is not None
        assert _running(started) == set()
        # The console held the URLs, not the services' logs; the logs are in files.
        assert len("".join(console).splitlines()) < 10, console
        assert not [line for line in out if line.strip()], out[:20]
        assert "sensor" not in "".join(console).lower()
        assert (home / "logs" / "dagster.log").stat().st_size > 0
        assert (home / "logs" / "streamlit.log").stat().st_size > 0
    finally:
        for pid in _running(started | _descendants(serve.pid)) | (
            {serve.pid} if serve.poll() is None else set()
        ):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


@pytest.mark.parametrize("verbose", [False, True])
def test_a_services_output_always_reaches_its_log_and_the_console_only_when_verbose(
    tmp_path: Path, capfd, verbose: bool
):
    from dagster_project.commands.serve import _keep_log

    service = subprocess.Popen(
        [sys.executable, "-c", "print('sensor tick'); print('DEBUG detail')"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    log = tmp_path / "dagster.log"
    _keep_log(service, log, echo=verbose).join()
    service.wait()
    assert log.read_text().splitlines() == ["sensor tick", "DEBUG detail"]
    printed = capfd.readouterr().out
    assert ("sensor tick" in printed) is verbose


ORPHAN = """
import pathlib, signal, sys, time
folder = pathlib.Path(sys.argv[1])
signal.signal(signal.SIGINT, lambda *_: (folder.joinpath("interrupted").touch(), sys.exit(0)))
folder.joinpath("ready").touch()
while True:
    time.sleep(0.1)
"""
LEADER = """
import pathlib, subprocess, sys, time
subprocess.Popen([sys.executable, "-c", sys.argv[1], sys.argv[2]])
while not pathlib.Path(sys.argv[2], "ready").exists():
    time.sleep(0.05)
"""


def test_stopping_a_service_whose_leader_ended_interrupts_what_it_left_running(tmp_path: Path):
    """As when dagster dev itself dies and leaves its daemon: the daemon gets the clean SIGINT."""
    from dagster_project.commands.serve import _stop_services

    leader = subprocess.Popen([sys.executable, "-c", LEADER, ORPHAN, str(tmp_path)], start_new_session=True)
    leader.wait()
    assert (tmp_path / "ready").exists()
    _stop_services([leader], grace_seconds=120)
    assert (tmp_path / "interrupted").exists()


IGNORING = """
import signal, subprocess, sys
signal.signal(signal.SIGINT, signal.SIG_IGN)  # as a shell starts a background job
from dagster_project.commands.serve import catch_stop_signals
catch_stop_signals()
child = subprocess.run(
    [sys.executable, "-c", "import signal; print(signal.getsignal(signal.SIGINT) is signal.default_int_handler)"],
    capture_output=True, text=True, start_new_session=True,
)
print("child default:", child.stdout.strip())
try:
    signal.raise_signal(signal.SIGINT)
except KeyboardInterrupt:
    print("interrupted")
"""


def test_serve_started_with_sigint_ignored_still_stops_on_it_and_its_services_start_with_the_default():
    """`workstream serve &` in a script: the shell starts it with SIGINT ignored, which its services
    would inherit, so neither an interrupt of serve nor serve's interrupt of them would stop anything."""
    out = subprocess.run([sys.executable, "-c", IGNORING], capture_output=True, text=True, check=True).stdout
    assert out.splitlines() == ["child default: True", "interrupted"]
