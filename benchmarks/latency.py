"""Freshness under `workstream serve`: time from an event file landing in the inbox to its effect in the
published snapshot, over N drops (median and p95). Not a test: nothing is asserted.

Each drop is a small JSON Lines file creating one new signal (and touching an existing one); the clock
stops when the snapshot's `marts.signals` has that signal. Drops are sequential: the next file lands
as soon as the previous one is visible, so any follow-up work (dbt's data tests after each build) is
part of what the next drop waits for, as it would be in production.

With `--redactions N`, N redactions follow (issue 5): each picks a live note atom whose text is unique in
its org, drops a `memory.redacted` event for it (the file the Memory page writes) and stops the clock when
that text is gone from the snapshot: the atom, the search table, the cards and the event log view.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import duckdb
import orjson

from benchmarks.record import save
from dagster_project.settings import default_clock

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _count(serving: Path, sql: str, params: list | dict) -> int | None:
    """One count from the published snapshot; None while it is missing, being replaced or incomplete."""
    if not serving.exists():
        return None
    try:
        con = duckdb.connect(str(serving), read_only=True)
    except duckdb.Error:
        return None
    try:
        return con.execute(sql, params).fetchone()[0]
    except duckdb.Error:
        return None
    finally:
        con.close()


def _visible(serving: Path, org: str, signal_id: str) -> bool:
    sql = "select count(*) from marts.signals where org_id = ? and signal_id = ?"
    return bool(_count(serving, sql, [org, signal_id]))


def _drop(inbox: Path, i: int, org: str) -> str:
    now = default_clock().now().isoformat()
    signal_id = f"bench-sig-{os.getpid()}-{i}"
    events = [
        {
            "event_id": f"bench-{os.getpid()}-{i}-a",
            "org_id": org,
            "occurred_at": now,
            "event_name": "signal.created",
            "entity_type": "signal",
            "entity_id": signal_id,
            "actor": "bench@workstream.test",
            "payload": {"source_type": "web", "snippet": f"latency probe {i}"},
        },
        {
            "event_id": f"bench-{os.getpid()}-{i}-b",
            "org_id": org,
            "occurred_at": now,
            "event_name": "signal.touched",
            "entity_type": "signal",
            "entity_id": signal_id,
            "actor": "bench@workstream.test",
            "payload": {"channel": "email"},
        },
    ]
    tmp = inbox / f".drop-{i}.jsonl.tmp"
    tmp.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in events))
    # Ready files are those not modified in the last 2 s: age it, then rename into place atomically.
    os.utime(tmp, (time.time() - 10, time.time() - 10))
    tmp.rename(inbox / f"drop-{i:03d}.jsonl")
    return signal_id


def _pick_atom(serving: Path, skip: set[str]) -> tuple[str, str, str, str, str]:
    """(org, entity_type, entity_id, atom_id, content) of a live note atom whose text is unique."""
    con = duckdb.connect(str(serving), read_only=True)
    try:
        rows = con.execute(
            """select org_id, entity_type, entity_id, atom_id, content
               from (
                   select *, count(*) over (partition by org_id, content) as same_text
                   from marts.memory_atoms
               )
               where source = 'note' and length(content) >= 24 and same_text = 1
               order by org_id, atom_id limit 200"""
        ).fetchall()
        for row in rows:
            if row[3] in skip:
                continue
            # The text must live only in this atom's source event: an identical note on another entity
            # (an expired atom, say) legitimately keeps it in the log and would never "disappear".
            (carriers,) = con.execute(
                "select count(*) from marts.events where org_id = ? and contains(payload::varchar, ?)",
                [row[0], row[4]],
            ).fetchone()
            if carriers == 1:
                return row
    finally:
        con.close()
    raise SystemExit("no note atom left to redact")


def _text_gone(serving: Path, org: str, text: str) -> bool:
    """No trace of `text` in the org's atoms, search table, cards or event log view."""
    like = "%" + text.replace("%", "").replace("_", "") + "%"
    hits = _count(
        serving,
        """select (select count(*) from marts.memory_atoms where org_id = $org and content like $t)
                + (select count(*) from marts.memory_search where org_id = $org and content like $t)
                + (select count(*) from marts.memory_cards where org_id = $org
                      and (key_facts::varchar like $t or recent_activity::varchar like $t
                           or decisions::varchar like $t or risks::varchar like $t
                           or top_atoms::varchar like $t))
                + (select count(*) from marts.events where org_id = $org and payload::varchar like $t)""",
        {"org": org, "t": like},
    )
    return hits == 0


def _redact(inbox: Path, serving: Path, done: set[str]) -> tuple[str, str]:
    """Drop a redaction of a fresh atom into the inbox; returns (org, the text that must disappear)."""
    from streamlit_app.lib.governance import REDACTED, write_request

    org, entity_type, entity_id, atom_id, content = _pick_atom(serving, done)
    path = write_request(
        inbox.parent / "governance-staging",
        event_name=REDACTED,
        org_id=org,
        entity_type=entity_type,
        entity_id=entity_id,
        atom_id=atom_id,
        actor="bench@workstream.test",
        reason="latency benchmark",
    )
    # Ready files are those not modified in the last 2 s: age it, then move it into place atomically.
    os.utime(path, (time.time() - 10, time.time() - 10))
    path.rename(inbox / path.name)
    done.add(atom_id)
    return org, content


def _seconds_until(done: Callable[[], bool], timeout: float, what: str) -> float:
    """Poll `done` every 0.25 s; the seconds it took, or exit when `timeout` passes first."""
    started = time.monotonic()
    while not done():
        if time.monotonic() - started > timeout:
            raise SystemExit(f"{what}: not reflected in the snapshot after {timeout:.0f} s")
        time.sleep(0.25)
    return time.monotonic() - started


def _tree(root: int) -> set[int]:
    """`root` and its descendants (the `serve` tree: its services run in sessions of their own)."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parents[int(stat.parent.name)] = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
    tree, grew = {root}, True
    while grew:
        grew = False
        for pid, parent in parents.items():
            if parent in tree and pid not in tree:
                tree.add(pid)
                grew = True
    return tree


def _started(pid: int) -> str | None:
    """When a process started (its clock ticks since boot), to tell it from a later one with its pid."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _largest_process_mb(root: int) -> tuple[float, str]:
    """The largest resident set among `root` and its descendants (the `serve` tree), and its command."""
    largest = (0.0, "")
    for pid in _tree(root):
        try:
            status = Path(f"/proc/{pid}/status").read_text().splitlines()
            rss_kb = next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
            command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()[:80]
        except (OSError, StopIteration, ValueError, IndexError):
            continue
        largest = max(largest, (rss_kb / 1024, command))
    return largest


def _percentiles(latencies: list[float]) -> tuple[float, float, float]:
    """Median, p95 (nearest rank) and max."""
    ordered = sorted(latencies)
    p95 = ordered[min(len(ordered) - 1, int(round(0.95 * len(ordered))) - 1)]
    return statistics.median(latencies), p95, ordered[-1]


def _load_history(inbox: Path, home: Path, events: int) -> None:
    """Generate `events` events of history into the inbox and load them with one `workstream run`."""
    print(f"loading {events:,} events of history …", flush=True)
    subprocess.run(
        [
            str(BIN / "workstream"),
            "generate",
            "--out",
            str(inbox),
            "--events",
            str(events),
            "--orgs",
            "2",
            "--end",
            default_clock().now().strftime("%Y-%m-%dT%H:00:00Z"),
        ],
        check=True,
        capture_output=True,
        cwd=ROOT,
    )
    for path in inbox.iterdir():
        os.utime(path, (time.time() - 60, time.time() - 60))
    subprocess.run(
        [str(BIN / "workstream"), "run", "--inbox", str(inbox), "--home", str(home), "--skip-tests"],
        check=True,
        capture_output=True,
        cwd=ROOT,
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--drops", type=int, default=20)
    parser.add_argument("--base-events", type=int, default=20_000, help="history loaded before the drops")
    parser.add_argument("--redactions", type=int, default=0, help="redaction drops after the event drops")
    parser.add_argument("--timeout", type=float, default=300)
    parser.add_argument(
        "--home",
        type=Path,
        help="a home a `workstream run` left, copied as the history instead of generating and loading one",
    )
    parser.add_argument(
        "--sensor-interval", type=int, default=int(os.environ.get("WORKSTREAM_SENSOR_INTERVAL", "5"))
    )
    args = parser.parse_args()
    work = ROOT / "data" / "bench" / "latency"
    shutil.rmtree(work, ignore_errors=True)
    inbox, home = work / "inbox", work / "home"
    if args.home is not None:
        # A large history is loaded once and copied for each measurement (a 1M first run takes minutes).
        print(f"copying the home {args.home} …", flush=True)
        shutil.copytree(args.home, home, symlinks=True)
        inbox.mkdir(parents=True)
        args.base_events = _count(home / "serving.duckdb", "select count(*) from marts.events", [])
    else:
        _load_history(inbox, home, args.base_events)
    org = (
        duckdb.connect(str(home / "serving.duckdb"), read_only=True)
        .execute("select min(org_id) from marts.signals")
        .fetchone()[0]
    )
    env = {**os.environ, "WORKSTREAM_SENSOR_INTERVAL": str(args.sensor_interval)}
    env.pop("WORKSTREAM_NOW", None)
    serve = subprocess.Popen(
        [
            str(BIN / "workstream"),
            "serve",
            "--home",
            str(home),
            "--inbox",
            str(inbox),
            "--dagster-port",
            str(_free_port()),
            "--streamlit-port",
            str(_free_port()),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    latencies: list[float] = []
    rss_mb = 0.0
    redaction_latencies: list[float] = []
    try:
        time.sleep(20)  # dagster dev: webserver, daemon and code server up before the first drop
        for i in range(args.drops):
            signal_id = _drop(inbox, i, org)
            latencies.append(
                _seconds_until(
                    partial(_visible, home / "serving.duckdb", org, signal_id), args.timeout, f"drop {i}"
                )
            )
            print(f"  drop {i + 1:2d}: {latencies[-1]:6.1f} s", flush=True)
        redacted: set[str] = set()
        for i in range(args.redactions):
            org_r, text = _redact(inbox, home / "serving.duckdb", redacted)
            redaction_latencies.append(
                _seconds_until(
                    partial(_text_gone, home / "serving.duckdb", org_r, text), args.timeout, f"redaction {i}"
                )
            )
            print(f"  redaction {i + 1:2d}: {redaction_latencies[-1]:6.1f} s", flush=True)
        rss_mb, rss_command = _largest_process_mb(serve.pid)
        print(f"largest `serve` process after the drops: {rss_mb:,.0f} MB RSS ({rss_command.strip()})")
    finally:
        tree = {pid: _started(pid) for pid in _tree(serve.pid) - {serve.pid}}
        os.killpg(serve.pid, signal.SIGINT)
        try:
            serve.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(serve.pid, signal.SIGKILL)
        # A service left running (its daemon still ticking sensors and running jobs on the copied home)
        # would take CPU from whatever is measured next.
        left = [pid for pid, started in tree.items() if started is not None and _started(pid) == started]
        for pid in left:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if left:
            print(f"killed {len(left)} process(es) of `serve` still running after it stopped", flush=True)
    result: dict = {
        "sensor_interval_s": args.sensor_interval,
        "base_events": args.base_events,
        "largest_serve_process_rss_mb": round(rss_mb),
        "peak_rss_mb": round(rss_mb),  # the serve process's, not this driver's
    }
    if latencies:
        median, p95, worst = _percentiles(latencies)
        result.update(drops=len(latencies), median_s=median, p95_s=p95, max_s=worst)
        print(
            f"file → snapshot latency over {len(latencies)} drops: median {median:.1f} s, p95 {p95:.1f} s, "
            f"max {worst:.1f} s (goal p95 <= 15 s at a 1M history; sensor interval {args.sensor_interval} s)"
        )
    if redaction_latencies:
        r_median, r_p95, r_worst = _percentiles(redaction_latencies)
        result.update(
            redactions=len(redaction_latencies),
            redaction_median_s=r_median,
            redaction_p95_s=r_p95,
            redaction_max_s=r_worst,
        )
        print(
            f"redaction → text gone from the snapshot over {len(redaction_latencies)} redactions: median "
            f"{r_median:.1f} s, p95 {r_p95:.1f} s, max {r_worst:.1f} s (goal <= 30 s)"
        )
    save("latency", result, size=args.base_events)


if __name__ == "__main__":
    main()
