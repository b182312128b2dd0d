"""The apply asset: outbox items → guarded state machines → core tables, with its accounting check."""

import datetime as dt

import dagster as dg

from dagster_project.apply import runner
from dagster_project.control.export import copy_outbox_state
from dagster_project.defs.ingestion import RAW_EVENTS
from dagster_project.defs.resources import RunClockResource, WorkstreamResource
from dagster_project.identity import autolink
from dagster_project.sla import alerts
from dagster_project.warehouse.store import connect, read_run_clock, write_run_clock, writer_lock

CORE_OUTPUTS = (
    ("signals", "Every signal's current state (open, touched, linked, dismissed) and owner."),
    ("candidates", "Every candidate's current status through the guarded candidate machine."),
    ("pursuits", "Every pursuit's stage, checklists with completion %, proposals and outcome."),
    ("client_parts", "What each entity cluster knows of each client it references (aggregated by dbt)."),
    ("contact_records", "Every record that names a person: contacts, and the senders signals name."),
    ("user_records", "Every user of the org (whom owner and actor name) with the name user events give."),
    ("identity_decisions", "Explicit merges and splits of contacts and clients (they override the matcher)."),
    ("transitions", "Every applied state change (warned ones flagged), in event-time order."),
    ("rejected_events", "Every event a rule stopped (or warned about), with its rule code and detail."),
    ("event_outcomes", "The judgement on every accepted event: applied, warned, rejected or ignored."),
    ("config_registry", "Each org's config values: built-in defaults and effective-dated overrides."),
    ("memory_atoms", "Memory atoms captured from every lifecycle action, note and explicit record."),
    ("memory_audit", "Who corrected or redacted which atom, when and why (content hashes only)."),
)
# The control store's state the apply leaves, copied into the warehouse for dbt (its `control` sources).
CONTROL_OUTPUTS = (
    ("outbox_health", "Per org: outbox items pending, retrying, dead-lettered, done in the last hour."),
    ("dead_letters", "Every dead-lettered outbox item with its last error and the event it is about."),
    ("alerts", "The alert log (one row per alert and sink); the alert step refreshes it after recording."),
)
# The identity step the apply runs last (dagster_project/identity/store.py), read by dbt's identity sources.
IDENTITY_OUTPUTS = (
    ("links", "Every contact, signal sender and client record with the person or company it resolves to."),
    ("pairs", "Every pair the probabilistic matcher scored, with its match weights per comparison."),
    ("conflicts", "Pairs waiting for a person's decision: possible matches, one email on two clients."),
    ("erasures", "The audit of each forgotten person (contact.erased): hashes of what left, never values."),
)
CORE_EVENT_OUTCOMES = dg.AssetKey(["core", "event_outcomes"])
PURGE_TAG = "workstream/purge"
AUTO_LINK_WINDOW = dt.timedelta(minutes=5)


@dg.multi_asset(
    specs=[
        dg.AssetSpec(["core", table], group_name="lifecycle", description=desc, deps=[RAW_EVENTS])
        for table, desc in CORE_OUTPUTS
    ]
    + [
        dg.AssetSpec(["control", table], group_name="lifecycle", description=desc, deps=[RAW_EVENTS])
        for table, desc in CONTROL_OUTPUTS
    ]
    + [
        dg.AssetSpec(["identity", table], group_name="lifecycle", description=desc, deps=[RAW_EVENTS])
        for table, desc in IDENTITY_OUTPUTS
    ],
    name="lifecycle_apply",
    compute_kind="python",
)
def lifecycle_apply(
    context: dg.AssetExecutionContext, workstream: WorkstreamResource, clock: RunClockResource
):
    """Claim due outbox items, re-fold the entity clusters they touch, mark them processed.

    Safe to retry and to kill: the warehouse write per batch is one transaction of idempotent
    re-folds; stale claims are recovered by the next run; failures back off, then dead-letter.
    """
    paths = workstream.paths
    with writer_lock(paths.writer_lock):
        con = connect(paths.warehouse)
        try:
            report = runner.run_apply(
                con,
                paths.control,
                now=clock.current(),
                as_of=clock.as_of_time(),
                worker=f"run:{context.run_id}",
                sole_worker=True,  # under the writer lock: an open claim is a dead run's
                log=context.log.info,
                # Every run purges expired atoms' text (a redaction's way), so the contract holds after
                # any run, not only after the nightly one; a run tagged `workstream/purge=false` (a
                # view that must leave the data as it is) does not.
                purge=context.run.tags.get(PURGE_TAG, "true") != "false",
            )
            if read_run_clock(con) != (clock.as_of_time(), clock.current()):
                # No batch wrote this run's clock (nothing due, the as-of unchanged): dbt still builds
                # for this run, and `marts.memory_health` measures card age on its clock.
                con.execute("begin")
                write_run_clock(con, clock.as_of_time(), clock.current())
                con.execute("commit")
            # Auto-linking (an org's `identity.auto_link`): explicit events into the inbox, applied by the
            # next run; only a run of the present writes them (a view of the past changes nothing).
            if clock.as_of_time() >= clock.current() - AUTO_LINK_WINDOW:
                linked = autolink.write_auto_links(
                    workstream.inbox_path, autolink.auto_link_events(con, now=clock.current())
                )
                if linked is not None:
                    context.log.info(f"identity: auto-link events written to the inbox as {linked.name}")
            # The outbox as this run leaves it, and the alert log, for dbt's `control` sources.
            dead = copy_outbox_state(con, paths.control, clock.current())
            alerts.write_alerts_table(con, paths.control)
        finally:
            con.close()
        if report.scrubbed_redactions or report.scrubbed_corrections or report.refolded_after_scrub:
            # The publish step rewrites the warehouse file and drops older Parquet copies of the log.
            paths.redaction_marker.touch()
    for name, failed in sorted(report.failed_clusters.items()):
        context.log.warning(
            f"apply skipped cluster {name} ({failed.retrying} retrying, {failed.dead_lettered} dead-lettered):"
            f" {failed.error}"
        )
    context.log.info(
        f"applied {report.completed:,} of {report.claimed:,} claimed item(s) in {report.batches} batch(es); "
        f"{report.retrying} retrying, {report.dead_lettered} dead-lettered, {report.enqueued} re-enqueued, "
        f"{report.recovered} stale claim(s) recovered"
    )
    metadata = {
        "claimed": report.claimed,
        "completed": report.completed,
        "retrying": report.retrying,
        "dead_lettered": report.dead_lettered,
        "clusters_refolded": report.clusters,
        "events_folded": report.events_folded,
        "redactions_scrubbed": report.scrubbed_redactions,
        "corrections_scrubbed": report.scrubbed_corrections,
        "expired_atoms_purged": report.purged_atoms,
        # Named, so `workstream run` and the UI can say which clusters wait or died and why.
        "failed_clusters": dg.MetadataValue.json(
            [failed.as_dict() for _, failed in sorted(report.failed_clusters.items())]
        ),
    }
    for table, _ in CORE_OUTPUTS:
        yield dg.MaterializeResult(asset_key=["core", table], metadata=metadata)
    for table, _ in CONTROL_OUTPUTS:
        yield dg.MaterializeResult(asset_key=["control", table], metadata={"dead_letters": dead})
    for table, _ in IDENTITY_OUTPUTS:
        yield dg.MaterializeResult(
            asset_key=["identity", table],
            metadata={
                "orgs_resolved": report.identity_orgs,
                "orgs_compared_only_what_changed": report.identity_orgs_carried,
                "matcher_blocks_skipped": report.identity_skipped_blocks,
            },
        )


@dg.asset_check(asset=CORE_EVENT_OUTCOMES, blocking=True, name="every_event_accounted_for")
def every_event_accounted_for(workstream: WorkstreamResource, clock: RunClockResource) -> dg.AssetCheckResult:
    """Every accepted event up to the as-of is applied, warned, rejected or ignored, dead-lettered, or
    still in the outbox (retrying): none is silently dropped."""
    paths = workstream.paths
    con = connect(paths.warehouse, read_only=True)
    try:
        figures = runner.unaccounted_events(con, paths.control, clock.as_of_time())
    finally:
        con.close()
    return dg.AssetCheckResult(passed=figures["unaccounted"] == 0, metadata=figures)
