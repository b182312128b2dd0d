"""Freshness under `workstream serve`: time from an event file landing in the inbox to its effect in the
published snapshot, over N drops (median and p95). Not a test: nothing is asserted.

Each drop is a small JSON Lines file creating one new signal (and touching an existing one); the clock
stops when the snapshot's `marts.signals` has that signal. Drops are sequential: the next file lands
as soon as the previous one is visible, so any follow-up work (dbt's data tests after each build) is
part of what the next drop waits for, as it would be in production.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import orjson

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _visible(serving: Path, org: str, signal_id: str) -> bool:
    if not serving.exists():
        return False
    try:
        con = duckdb.connect(str(serving), read_only=True)
    except duckdb.Error:
        return False
    try:
        return bool(
            con.execute(
                "select count(*) from marts.signals where org_id = ? and signal_id = ?", [org, signal_id]
            ).fetchone()[0]
        )
    except duckdb.Error:
        return False
    finally:
        con.close()


def _drop(inbox: Path, i: int, org: str) -> str:
    now = datetime.now(UTC).isoformat()
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--drops", type=int, default=20)
    parser.add_argument("--base-events", type=int, default=20_000, help="history loaded before the drops")
    parser.add_argument("--timeout", type=float, default=300)
    parser.add_argument(
        "--sensor-interval", type=int, default=int(os.environ.get("WORKSTREAM_SENSOR_INTERVAL", "5"))
    )
    args = parser.parse_args()
    work = ROOT / "data" / "bench" / "latency"
    shutil.rmtree(work, ignore_errors=True)
    inbox, home = work / "inbox", work / "home"
    print(f"loading {args.base_events:,} events of history …", flush=True)
    subprocess.run(
        [
            str(BIN / "workstream"),
            "generate",
            "--out",
            str(inbox),
            "--events",
            str(args.base_events),
            "--orgs",
            "2",
            "--end",
            datetime.now(UTC).strftime("%Y-%m-%dT%H:00:00Z"),
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
    try:
        time.sleep(20)  # dagster dev: webserver, daemon and code server up before the first drop
        for i in range(args.drops):
            signal_id = _drop(inbox, i, org)
            started = time.monotonic()
            while not _visible(home / "serving.duckdb", org, signal_id):
                if time.monotonic() - started > args.timeout:
                    raise SystemExit(f"drop {i}: not visible after {args.timeout:.0f} s")
                time.sleep(0.25)
            latencies.append(time.monotonic() - started)
            print(f"  drop {i + 1:2d}: {latencies[-1]:6.1f} s", flush=True)
    finally:
        os.killpg(serve.pid, signal.SIGINT)
        try:
            serve.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(serve.pid, signal.SIGKILL)
    ordered = sorted(latencies)
    p95 = ordered[min(len(ordered) - 1, int(round(0.95 * len(ordered))) - 1)]
    result = {
        "drops": len(latencies),
        "median_s": statistics.median(latencies),
        "p95_s": p95,
        "max_s": ordered[-1],
        "sensor_interval_s": args.sensor_interval,
        "base_events": args.base_events,
    }
    (ROOT / "data" / "bench" / "results-latency.json").write_text(json.dumps(result, indent=2))
    print(
        f"file → snapshot latency over {len(latencies)} drops: median {result['median_s']:.1f} s, "
        f"p95 {p95:.1f} s, max {ordered[-1]:.1f} s (goal p95 <= 30 s; sensor interval {args.sensor_interval} s)"
    )


if __name__ == "__main__":
    main()
