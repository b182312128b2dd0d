"""The job every trigger runs, the inbox sensor and the nightly schedule."""

import hashlib
import json
import os
import sqlite3
from datetime import timedelta
from pathlib import Path

import dagster as dg

from dagster_project.config.registry import DEFAULTS
from dagster_project.control import outbox
from dagster_project.control import store as control
from dagster_project.defs.enrichment import mcp_enrichment
from dagster_project.defs.ingestion import event_ids_unique_per_org, ledger_conserves_lines
from dagster_project.defs.lifecycle import every_event_accounted_for
from dagster_project.defs.run_slots import WRITER_TAGS
from dagster_project.defs.transform import workstream_dbt_assets
from dagster_project.ingestion.readers import content_hash, list_inbox
from dagster_project.settings import HomePaths, default_clock, home_from_env, inbox_from_env

ACTIVE_STATUSES = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]

# The hot path publishes without waiting for dbt's data tests (they run right after, in
# `dbt_tests_job`, and in the nightly full build); the Python checks on ingest and apply stay in it.
HOT_PATH_CHECKS = dg.AssetSelection.checks(
    ledger_conserves_lines, event_ids_unique_per_org, every_event_accounted_for
)

# Enrichment calls outside servers: they run in a job of their own, after the publish (defs/enrichment.py).
PIPELINE = dg.AssetSelection.all() - dg.AssetSelection.assets(mcp_enrichment)

ingest_build_publish_job = dg.define_asset_job(
    "ingest_build_publish_job",
    selection=PIPELINE.without_checks() | HOT_PATH_CHECKS,
    description=(
        "Ingest new inbox files, apply due outbox items to the core tables, build the dbt models, "
        "publish the snapshot, record SLA alerts. Safe to retry. dbt's data tests follow in dbt_tests_job."
    ),
    tags=WRITER_TAGS,
    executor_def=dg.in_process_executor,
)

dbt_tests_job = dg.define_asset_job(
    "dbt_tests_job",
    selection=dg.AssetSelection.checks_for_assets(workstream_dbt_assets),
    description="dbt's data tests on the models the last build wrote (asset checks), off the hot path.",
    tags=WRITER_TAGS,
    executor_def=dg.in_process_executor,
)

full_build_job = dg.define_asset_job(
    "full_build_job",
    selection=PIPELINE,
    description="Everything, with every dbt data test before publishing (the nightly rebuild).",
    tags=WRITER_TAGS,
    executor_def=dg.in_process_executor,
)


def new_files(
    inbox: Path, known_hashes: set[str], cache: dict[str, list]
) -> tuple[list[tuple[str, str]], dict]:
    """(path, content hash) of ready inbox files not yet ingested; hashes cached by (size, mtime)."""
    fresh_cache: dict[str, list] = {}
    found = []
    for path in list_inbox(inbox):
        key = str(path)
        try:
            stat = path.stat(follow_symlinks=False)
            cached = cache.get(key)
            if cached and cached[0] == stat.st_size and cached[1] == stat.st_mtime_ns:
                digest = cached[2]
            else:
                digest = content_hash(path)  # refuses a link (NotInboxFile, an OSError)
        except OSError:
            continue  # gone, or swapped for a link, since the listing: the next tick sees what is there
        fresh_cache[key] = [stat.st_size, stat.st_mtime_ns, digest]
        if digest not in known_hashes:
            found.append((key, digest))
    return found, fresh_cache


def run_key_for(hashes: list[str]) -> str:
    """One new file: its content hash. Several: a hash of their sorted hashes."""
    if len(hashes) == 1:
        return hashes[0]
    return hashlib.sha256("\n".join(sorted(hashes)).encode()).hexdigest()


@dg.sensor(
    name="inbox_files_sensor",
    job=ingest_build_publish_job,
    minimum_interval_seconds=int(os.environ.get("WORKSTREAM_SENSOR_INTERVAL", "5")),
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def inbox_files_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult | dg.SkipReason:
    """A new file in the inbox (by content hash, not name) → one run; already-ingested files → nothing."""
    cursor = json.loads(context.cursor) if context.cursor else {}
    known = control.ingested_hashes(HomePaths(home_from_env()).control)
    found, cache = new_files(inbox_from_env(), known, cursor.get("hashes", {}))
    if not found:
        return dg.SkipReason("no new inbox files")
    hashes = sorted({digest for _, digest in found})
    return dg.SensorResult(
        run_requests=[
            dg.RunRequest(
                run_key=run_key_for(hashes),
                tags={"workstream/files": ",".join(sorted(Path(p).name for p, _ in found))[:4000]},
            )
        ],
        cursor=json.dumps({"hashes": cache}),
    )


nightly_rebuild_schedule = dg.ScheduleDefinition(
    name="nightly_rebuild_schedule",
    job=full_build_job,
    cron_schedule="0 2 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Rebuild as of now every night: time-based outputs move even without new events.",
)


def due_items(control_path: Path, now_text: str) -> int:
    """Outbox items a run should pick up now: due pending items, plus claims old enough to recover
    (a run killed after claiming leaves them; nothing else would ever start the run that recovers them)."""
    if not control_path.exists():
        return 0
    stale = timedelta(minutes=int(DEFAULTS["outbox.stale_claim_minutes"]))
    horizon = outbox.to_text(outbox.from_text(now_text) - stale)
    with control.connect(control_path) as con:
        try:
            return con.execute(
                "select (select count(*) from outbox_items where status = 'pending' and next_attempt_at <= ?)"
                " + (select count(*) from outbox_items where status = 'claimed' and claimed_at < ?)",
                (now_text, horizon),
            ).fetchone()[0]
        except sqlite3.OperationalError:  # no outbox table yet
            return 0


@dg.sensor(
    name="outbox_due_sensor",
    job=ingest_build_publish_job,
    minimum_interval_seconds=int(os.environ.get("WORKSTREAM_SENSOR_INTERVAL", "5")),
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def outbox_due_sensor(context: dg.SensorEvaluationContext) -> dg.RunRequest | dg.SkipReason:
    """Due outbox items (new, or a retry whose backoff ended) → one run, unless a run is already going."""
    now = default_clock().now()
    due = due_items(HomePaths(home_from_env()).control, outbox.to_text(now))
    if not due:
        return dg.SkipReason("no outbox items due")
    active = context.instance.get_run_records(
        dg.RunsFilter(job_name=ingest_build_publish_job.name, statuses=ACTIVE_STATUSES), limit=1
    )
    if active:
        return dg.SkipReason(f"{due} item(s) due; a run is already queued or in progress")
    return dg.RunRequest(tags={"workstream/trigger": "outbox", "workstream/due": str(due)})


def tests_quiet_seconds() -> float:
    """How long the inbox must stay quiet after a build before its data tests run (env
    WORKSTREAM_TESTS_QUIET_SECONDS, default 60)."""
    return float(os.environ.get("WORKSTREAM_TESTS_QUIET_SECONDS", "60"))


class SkipText(str):
    """A reason not to launch (kept apart from a run id by its type)."""


def build_to_test(
    build_active: bool, last_build: tuple[str, float] | None, now: float, quiet_seconds: float
) -> str | SkipText:
    """Which build's data tests to run now: the latest successful one, once no build is queued or
    running and it finished `quiet_seconds` ago. A test run holds the warehouse (one writer run at a time), so
    testing during a burst of drops would make every next drop wait for it: fresh data first."""
    if build_active:
        return SkipText("a build is queued or running; its data goes first")
    if last_build is None:
        return SkipText("no successful build yet")
    run_id, finished_at = last_build
    waited = now - finished_at
    if waited < quiet_seconds:
        return SkipText(
            f"last build finished {waited:.0f} s ago; testing after {quiet_seconds:.0f} s of quiet"
        )
    return run_id


@dg.sensor(
    name="dbt_tests_after_build_sensor",
    job=dbt_tests_job,
    minimum_interval_seconds=int(os.environ.get("WORKSTREAM_SENSOR_INTERVAL", "5")),
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def dbt_tests_after_build_sensor(context: dg.SensorEvaluationContext) -> dg.RunRequest | dg.SkipReason:
    """dbt's data tests on the latest successful build, once the inbox has been quiet for a while (see
    `build_to_test`); keyed by the build's run id, so each build is tested at most once and a burst of
    builds once, at its end. The nightly full build always tests before publishing."""
    instance = context.instance
    active = instance.get_run_records(
        dg.RunsFilter(job_name=ingest_build_publish_job.name, statuses=ACTIVE_STATUSES), limit=1
    )
    done = instance.get_run_records(
        dg.RunsFilter(job_name=ingest_build_publish_job.name, statuses=[dg.DagsterRunStatus.SUCCESS]), limit=1
    )
    last = None
    if done:
        record = done[0]
        last = (record.dagster_run.run_id, record.end_time or record.update_timestamp.timestamp())
    decision = build_to_test(bool(active), last, default_clock().now().timestamp(), tests_quiet_seconds())
    if isinstance(decision, SkipText):
        return dg.SkipReason(str(decision))
    return dg.RunRequest(run_key=decision, tags={"workstream/tests_for": decision})
