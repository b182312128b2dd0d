"""What `run` and `serve` prepare before Dagster starts: the home's Dagster instance and dbt's manifest."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import typer

from dagster_project.commands.common import console
from dagster_project.defs.run_slots import MAX_CONCURRENT_RUNS, TAG_CONCURRENCY_LIMITS
from dagster_project.settings import DBT_PROJECT_DIR, ENV_HOME, ENV_INBOX, HomePaths

# How queued runs start: inside the daemon (see dagster_project/defs/warm_launcher.py) or Dagster's default
# launcher (a new process per run). Env WORKSTREAM_RUN_LAUNCHER=in-process|subprocess.
RUN_LAUNCHERS = {
    "in-process": (
        "run_launcher:\n  module: dagster_project.defs.warm_launcher\n  class: InProcessThreadRunLauncher\n"
    ),
    "subprocess": "",
}
TELEMETRY_OFF = {"DO_NOT_TRACK": "1", "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}


def child_environment(**values: str) -> dict[str, str]:
    """The environment for a process this command starts: ours, plus `values`, with dbt's and Dagster's
    usage reporting off unless the user's environment says otherwise. Our own environment is never
    edited, so a command run in-process (tests, notebooks) leaves its caller's as it was."""
    return {**TELEMETRY_OFF, **os.environ, **values}


def service_environment(paths: HomePaths, inbox: Path) -> dict[str, str]:
    """What `dagster dev` and Streamlit need to find this home and inbox: the sensors, the daemon's
    runs and the dashboards read them from their environment, and `dagster dev` looks for dbt on PATH."""
    bin_dir = str(Path(sys.executable).parent)
    path = os.environ.get("PATH", "")
    return child_environment(
        **{
            ENV_HOME: str(paths.home),
            ENV_INBOX: str(inbox.resolve()),
            "WORKSTREAM_WAREHOUSE": str(paths.warehouse),
            "DAGSTER_HOME": str(write_dagster_home(paths)),
            "PATH": path if bin_dir in path.split(os.pathsep) else bin_dir + os.pathsep + path,
        }
    )


def run_launcher_choice() -> str:
    choice = os.environ.get("WORKSTREAM_RUN_LAUNCHER", "in-process").strip() or "in-process"
    if choice not in RUN_LAUNCHERS:
        raise typer.BadParameter(f"WORKSTREAM_RUN_LAUNCHER={choice!r}: use one of {', '.join(RUN_LAUNCHERS)}")
    return choice


def write_dagster_home(paths: HomePaths) -> Path:
    """A Dagster instance per home: one writer run at a time, an enrichment run beside it, no telemetry."""
    paths.dagster_home.mkdir(parents=True, exist_ok=True)
    (paths.dagster_home / "dagster.yaml").write_text(
        "telemetry:\n  enabled: false\n"
        # One run per slot (dagster_project/defs/run_slots.py): writers never overlap, and a slow enrichment
        # server never holds up the next build. The queue is checked every second, not Dagster's default
        # 5 s (freshness); the coordinator is Dagster's queued one, warming the daemon's imports
        # (dagster_project/defs/warm_launcher.py). The limits are JSON, which YAML reads as it is.
        "run_coordinator:\n  module: dagster_project.defs.warm_launcher\n  class: WarmQueuedRunCoordinator\n"
        f"  config:\n    max_concurrent_runs: {MAX_CONCURRENT_RUNS}\n    dequeue_interval_seconds: 1\n"
        f"    tag_concurrency_limits: {json.dumps(TAG_CONCURRENCY_LIMITS)}\n"
        + RUN_LAUNCHERS[run_launcher_choice()]
    )
    return paths.dagster_home


# What dbt's manifest is built from: a file here newer than the manifest means it is out of date.
DBT_SOURCES = ("dbt_project.yml", "models", "macros", "seeds", "tests", "snapshots", "analyses")


def dbt_manifest_is_current(project_dir: Path = DBT_PROJECT_DIR) -> bool:
    """True when `target/manifest.json` exists and no model, macro, seed, test or project file changed
    after it was written: a checkout that pulled new models must not load Dagster's assets from the
    old manifest (the run would then miss or fail on the new models)."""
    manifest = project_dir / "target" / "manifest.json"
    if not manifest.exists():
        return False
    built = manifest.stat().st_mtime
    for name in DBT_SOURCES:
        source = project_dir / name
        if not source.exists():
            continue
        files = [source] if source.is_file() else (p for p in source.rglob("*") if p.is_file())
        if any(f.stat().st_mtime > built for f in files):
            return False
    return True


def ensure_dbt_manifest(warehouse: Path | None = None) -> None:
    """Dagster's dbt assets are built from dbt's manifest; parse when it is missing or older than the
    project's files (a parse opens no warehouse, but dbt's profile needs a path: the home's `warehouse`
    when given)."""
    if dbt_manifest_is_current():
        return
    console.print("[dim]parsing the dbt project…[/dim]")
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
        env=child_environment(
            WORKSTREAM_WAREHOUSE=str(warehouse)
            if warehouse
            else os.environ.get("WORKSTREAM_WAREHOUSE", "/tmp/parse.duckdb")
        ),
    )
