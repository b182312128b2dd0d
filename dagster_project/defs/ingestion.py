"""The ingest asset: every new inbox file into the warehouse's raw tables, with its checks."""

import dagster as dg

from dagster_project.apply.runner import enqueue_file_events
from dagster_project.control import store as control
from dagster_project.defs.resources import RunClockResource, WorkstreamResource
from dagster_project.ingestion.ingest import ingest_paths
from dagster_project.ingestion.quarantine import first_quarantined, quarantined_line
from dagster_project.ingestion.readers import scan_inbox
from dagster_project.serving.publish import remove_publish_leftovers
from dagster_project.warehouse.store import connect, writer_lock

RAW_EVENTS = dg.AssetKey(["raw", "events"])


@dg.multi_asset(
    specs=[
        dg.AssetSpec(["raw", table], group_name="ingestion", description=desc)
        for table, desc in (
            ("events", "The append-only event log: accepted events, one row per (org_id, event_id), UTC."),
            ("quarantine", "Every invalid input record with file, line, raw text and a reason code."),
            ("ingest_ledger", "One row per input file: lines = accepted + duplicates + quarantined."),
            (
                "ingest_ledger_orgs",
                "The ledger split by org (org null = records whose org could not be read).",
            ),
        )
    ],
    name="raw_ingest",
    compute_kind="python",
)
def raw_ingest(context: dg.AssetExecutionContext, workstream: WorkstreamResource, clock: RunClockResource):
    """Ingest every inbox file not yet in the ledger (keyed by content hash): safe to retry.

    One transaction per file writes its events, quarantine rows and ledger row together.
    """
    paths = workstream.paths
    scan = scan_inbox(workstream.inbox_path)
    files = scan.ready
    now = clock.current()
    with writer_lock(paths.writer_lock):
        # A run starts by removing what a killed publish left behind (it may hold erased text).
        for leftover in remove_publish_leftovers(paths):
            context.log.warning(f"removed {leftover.name}, left by a writer that died")
        con = connect(paths.warehouse)
        try:
            report = ingest_paths(
                con,
                files,
                now=now,
                progress=lambda name, n: context.log.info(f"{name}: {n:,} records validated"),
                inbox=workstream.inbox_path,
            )
            # Right after the commit: each new file's accepted events become outbox items. A crash in
            # between loses nothing — the apply step enqueues whatever the outbox lacks.
            queued = sum(
                enqueue_file_events(con, paths.control, f.file, now, now)
                for f in report.ingested
                if f.accepted
            )
            named = first_quarantined(con, [f.content_hash for f in report.ingested if f.quarantined])
        finally:
            con.close()
    for name, why in [*scan.passed_over, *report.passed_over]:
        context.log.warning(f"inbox entry {name!r} passed over: {why}")
    control.record_ingested(paths.control, [(f.content_hash, f.file, f.status) for f in report.ingested], now)
    reasons: dict[str, int] = {}
    for f in report.ingested:
        for reason, n in f.reasons.items():
            reasons[reason] = reasons.get(reason, 0) + n
    context.log.info(
        f"ingested {len(report.ingested)} new file(s) of {len(files)}: {report.total('accepted')} accepted, "
        f"{report.total('duplicates')} duplicates, {report.total('quarantined')} quarantined"
    )
    # Bad input is named by file, line and reason where whoever dropped it looks: the run's log (and,
    # under `serve`, dagster.log), the run summary and the asset's metadata.
    for q in named:
        context.log.warning(f"quarantined {quarantined_line(q)}")
    if report.total("quarantined") > len(named):
        context.log.warning(
            f"and {report.total('quarantined') - len(named):,} more quarantined lines: the Data quality "
            "page lists them, `workstream quarantine export` writes them out to fix"
        )
    common = {"files_new": len(report.ingested), "files_seen": len(files), "outbox_enqueued": queued}
    yield dg.MaterializeResult(
        asset_key=RAW_EVENTS,
        metadata={**common, "accepted": report.total("accepted"), "duplicates": report.total("duplicates")},
    )
    yield dg.MaterializeResult(
        asset_key=["raw", "quarantine"],
        metadata={
            **common,
            "quarantined": report.total("quarantined"),
            **{f"reason/{k}": v for k, v in sorted(reasons.items())},
            "first_quarantined": dg.MetadataValue.json(named),
        },
    )
    yield dg.MaterializeResult(
        asset_key=["raw", "ingest_ledger"], metadata={**common, "lines": report.total("lines")}
    )
    yield dg.MaterializeResult(asset_key=["raw", "ingest_ledger_orgs"], metadata=common)


def _read_scalar(workstream: WorkstreamResource, sql: str) -> int:
    con = connect(workstream.paths.warehouse, read_only=True)
    try:
        return int(con.execute(sql).fetchone()[0])
    finally:
        con.close()


@dg.asset_check(asset=dg.AssetKey(["raw", "ingest_ledger"]), blocking=True, name="ledger_conserves_lines")
def ledger_conserves_lines(workstream: WorkstreamResource) -> dg.AssetCheckResult:
    """Every file: lines = accepted + duplicates + quarantined, and the rows behind the counts exist."""
    broken = _read_scalar(
        workstream,
        """
        select count(*) from raw.ingest_ledger l
        left join (select content_hash, count(*) n from raw.quarantine group by all) q using (content_hash)
        where l.lines <> l.accepted + l.duplicates + l.quarantined
           or (l.status = 'ok' and coalesce(q.n, 0) <> l.quarantined)
        """,
    )
    return dg.AssetCheckResult(passed=broken == 0, metadata={"files_broken": broken})


@dg.asset_check(asset=RAW_EVENTS, blocking=True, name="event_ids_unique_per_org")
def event_ids_unique_per_org(workstream: WorkstreamResource) -> dg.AssetCheckResult:
    """No (org_id, event_id) is stored twice: duplicates are counted, never applied."""
    dupes = _read_scalar(
        workstream,
        "select count(*) from (select org_id, event_id from raw.events group by all having count(*) > 1)",
    )
    return dg.AssetCheckResult(passed=dupes == 0, metadata={"duplicated_ids": dupes})
