"""One apply run: recover stale claims, enqueue what the outbox lacks, then claim → apply → complete.

The outbox (control store) decides *which* events a run works on and keeps retries and dead letters;
`apply.apply_batch` re-folds the clusters they touch. The warehouse write is idempotent, so a run killed
anywhere is repaired by the next one: claims it held go stale and are recovered, the same re-fold
writes the same rows, and only the claim that still owns an item may mark it processed (fencing).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import orjson
import polars as pl

from dagster_project.apply.batch import FaultHook, apply_batch, last_as_of
from dagster_project.config.registry import DEFAULTS
from dagster_project.control import outbox
from dagster_project.control.faults import checkpoint
from dagster_project.identity.erasure import scrub_erased_contacts
from dagster_project.identity.store import resolve_identities
from dagster_project.identity.user_erasure import scrub_erased_users
from dagster_project.lifecycle.store import ensure_core_schema
from dagster_project.memory.governance import REFOLD_DDL, purge_expired, scrub_governed

DEFAULT_BATCH = 100_000
_ONE_TICK = timedelta(microseconds=1)
# occurred_at already in the outbox's fixed-width UTC text form (no datetime objects per row).
_KEY_COLUMNS = "org_id, event_id, entity_type, entity_id, strftime(occurred_at, '%Y-%m-%dT%H:%M:%S.%fZ')"


@dataclass
class ApplyRunReport:
    recovered: int = 0
    enqueued: int = 0
    claimed: int = 0
    completed: int = 0
    retrying: int = 0
    dead_lettered: int = 0
    lost_claims: int = 0
    scrubbed_redactions: int = 0  # redactions and purged atoms
    scrubbed_corrections: int = 0
    refolded_after_scrub: int = 0  # scrubbed events re-folded (an earlier run's left-overs included)
    purged_atoms: int = 0
    identity_orgs: int = 0  # orgs whose people and companies were re-resolved
    identity_orgs_carried: int = 0  # of those, orgs whose matcher compared only what changed
    identity_skipped_blocks: int = 0  # matcher blocks over identity.max_block_size, left out
    batches: int = 0
    clusters: int = 0
    events_folded: int = 0
    events_set_based: int = 0  # of `events_folded`, those the fast path folded in DuckDB
    errors: dict[str, str] = field(default_factory=dict)
    # "org/cluster" -> what became of the claimed events of a cluster the apply had to skip.
    failed_clusters: dict[str, FailedCluster] = field(default_factory=dict)


@dataclass
class FailedCluster:
    """A cluster the apply skipped in this run: its claimed events now retrying or dead-lettered."""

    org_id: str
    cluster_id: str
    error: str
    retrying: int = 0
    dead_lettered: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "org_id": self.org_id,
            "cluster_id": self.cluster_id,
            "retrying": self.retrying,
            "dead_lettered": self.dead_lettered,
            "error": self.error,
        }


def enqueue_file_events(
    con: duckdb.DuckDBPyConnection, store: Path, file_name: str, ingested_at: datetime, now: datetime
) -> int:
    """Enqueue the events one ingest committed from one file (called right after the commit)."""
    return _enqueue_rows(
        con,
        store,
        f"select {_KEY_COLUMNS} from raw.events where source_file = ? and ingested_at = ?",
        [file_name, ingested_at],
        now,
    )


# Keys read and enqueued this many at a time: a first load's file can hold millions of events, and all
# its keys at once as Python tuples held more than the apply's batches (benchmarks/README.md).
ENQUEUE_CHUNK = 100_000


def _enqueue_rows(con: duckdb.DuckDBPyConnection, store: Path, sql: str, params: list, now: datetime) -> int:
    """Enqueue a query's event keys in chunks. A run that dies between two chunks leaves the rest to the
    next run's `enqueue_missing`, as one that dies before the first does."""
    cursor = con.execute(sql, params)
    added = 0
    while rows := cursor.fetchmany(ENQUEUE_CHUNK):
        added += _enqueue(store, rows, now)
    return added


def enqueue_missing(con: duckdb.DuckDBPyConnection, store: Path, now: datetime) -> int:
    """Enqueue every accepted event the outbox lacks (a crash between ingest's commit and its enqueue).

    Cheap when nothing is missing: the outbox only ever holds keys of accepted events, so equal counts
    mean equal sets; only a mismatch pays for the full anti-join.
    """
    warehouse_count = con.execute("select count(*) from raw.events").fetchone()[0]
    with outbox.connect(store) as sq:
        outbox.ensure_schema(sq)
        outbox_count = sq.execute("select count(*) from outbox_items").fetchone()[0]
        if warehouse_count == outbox_count:
            return 0
        known = sq.execute("select org_id, event_id from outbox_items").fetchall()
    con.register(
        "outbox_known",
        pl.DataFrame(known, schema={"org_id": pl.Utf8, "event_id": pl.Utf8}, orient="row").to_arrow(),
    )
    return _enqueue_rows(
        con,
        store,
        f"""select {_KEY_COLUMNS} from raw.events e
            where not exists (select 1 from outbox_known k where k.org_id = e.org_id and k.event_id = e.event_id)""",
        [],
        now,
    )


def _enqueue(store: Path, rows: list[tuple], now: datetime) -> int:
    """Enqueue event keys due at `now`; config changes (entity type `org`) one tick earlier.

    A claim takes items by due time, then org and event time, so a config change dated after the
    events it came with (an import's gate window closes just after its latest record) would be claimed
    in the org's last batch and re-fold every cluster of the org a second time. Due first, it is
    applied before the clusters of the events ingested with it exist. Batches read every config event
    of the org anyway, so the order changes no result, only the work."""
    names = ("org_id", "event_id", "entity_type", "entity_id", "occurred_at")
    config = [row for row in rows if row[2] == "org"]
    rest = [row for row in rows if row[2] != "org"]
    added = 0
    for part, due in ((config, now - _ONE_TICK), (rest, now)):
        if part:
            added += outbox.enqueue(store, (dict(zip(names, row, strict=True)) for row in part), due)
    return added


def keys_with_status(store: Path, statuses: tuple[str, ...]) -> list[outbox.Key]:
    """The keys of the items in `statuses`.

    One `status = '<literal>'` select per status: SQLite only uses a partial index (`… where status =
    'dead'`) for a query that names the same literal, and a bound parameter or `in (…)` scans every item.
    """
    unknown = set(statuses) - set(outbox.STATUSES)
    if unknown:
        raise ValueError(f"unknown outbox status {sorted(unknown)}")
    sql = " union all ".join(
        f"select org_id, event_id from outbox_items where status = '{status}'" for status in statuses
    )
    with outbox.connect(store) as sq:
        outbox.ensure_schema(sq)
        return [(r[0], r[1]) for r in sq.execute(sql)]


def outbox_settings(con: duckdb.DuckDBPyConnection, as_of: datetime) -> dict[str, dict[str, int]]:
    """Each org's `outbox.*` values in force at `as_of` (from the config registry the apply keeps)."""
    settings: dict[str, dict[str, int]] = {}
    rows = con.execute(
        """select org_id, key, value from core.config_registry
           where key like 'outbox.%'
             and (effective_from is null or effective_from <= $t) and (effective_to is null or effective_to > $t)""",
        {"t": as_of},
    ).fetchall()
    for org_id, key, value in rows:
        settings.setdefault(org_id, {})[key] = int(orjson.loads(value))
    return settings


def _setting(settings: dict[str, dict[str, int]], org_id: str, key: str) -> int:
    return settings.get(org_id, {}).get(key, int(DEFAULTS[key]))


def run_apply(
    con: duckdb.DuckDBPyConnection,
    store: Path,
    *,
    now: datetime,
    as_of: datetime,
    worker: str,
    batch_size: int = DEFAULT_BATCH,
    fault: FaultHook | None = None,
    log: Callable[[str], Any] = lambda _msg: None,
    purge: bool = False,
    sole_worker: bool = False,
) -> ApplyRunReport:
    """Apply every due outbox item (and a moved as-of) to the core tables. Safe to rerun after any crash.

    With `purge`, atoms expired as of the earlier of `as_of` and `now` have their text scrubbed too.
    `sole_worker`: the caller holds the lock every apply takes (the warehouse writer lock), so a claim
    still open belongs to an apply that died. It is reclaimed at once: within the stale-claim window
    a rerun would otherwise find those items claimed, apply nothing and publish without their state.
    """
    ensure_core_schema(con)
    report = ApplyRunReport()
    stale = int(DEFAULTS["outbox.stale_claim_minutes"])
    attempts = int(DEFAULTS["outbox.max_attempts"])
    if sole_worker:
        recovered = outbox.recover_abandoned(store, now, max_attempts=attempts)
    else:
        recovered = outbox.recover_stale(store, now, stale_minutes=stale, max_attempts=attempts)
    report.recovered = len(recovered.requeued) + len(recovered.dead)
    report.enqueued = enqueue_missing(con, store, now)
    checkpoint("after_enqueue")
    dead = keys_with_status(store, ("dead",))
    ran = False
    while True:
        claim = outbox.claim(store, now=now, limit=batch_size, worker=worker)
        if not claim:
            break
        report.claimed += len(claim.items)
        checkpoint("after_claim")
        keys = claim.keys  # built once: a first load's claims hold a hundred thousand items
        batch = apply_batch(
            con,
            keys,
            as_of=as_of,
            now=now,
            dead=dead,
            fault=fault,
            # No hint when a claimed time is outside Python's range (the apply then fails that event).
            keys_between=claim.span(),
        )
        ran = True
        checkpoint("after_apply")
        report.batches += 1
        report.clusters += batch.clusters
        report.events_folded += batch.events_folded
        report.events_set_based += batch.events_set_based
        settings = outbox_settings(con, as_of)
        ok = [key for key in keys if key not in batch.failed_keys] if batch.failed_keys else keys
        done = outbox.complete(store, claim.token, ok, now, whole_claim=not batch.failed_keys)
        report.completed += len(done)
        report.lost_claims += len(ok) - len(done)
        for key in keys if batch.failed_keys else ():
            error = batch.failed_keys.get(key)
            if error is None:
                continue
            status = outbox.fail(
                store,
                claim.token,
                key,
                error,
                now,
                max_attempts=_setting(settings, key[0], "outbox.max_attempts"),
                cap_minutes=_setting(settings, key[0], "outbox.backoff_cap_minutes"),
            )
            org_id, cluster_id = batch.failed_cluster.get(key, (key[0], "?"))
            failed = report.failed_clusters.setdefault(
                f"{org_id}/{cluster_id}", FailedCluster(org_id, cluster_id, error)
            )
            if status == "dead":
                report.dead_lettered += 1
                failed.dead_lettered += 1
                dead.append(key)
            elif status == "pending":
                report.retrying += 1
                failed.retrying += 1
            report.errors[f"{key[0]}/{key[1]}"] = error
        checkpoint("after_complete")
        log(
            f"batch {report.batches}: {len(claim.items):,} claimed, {batch.clusters:,} clusters re-folded "
            f"({batch.events_folded:,} events), {len(batch.failed)} failed"
        )
    # Corrections and redactions: scrub the old text from the log and quarantine, then re-fold what
    # read it. Both run every time (a target may arrive after its correction or redaction).
    scrub = scrub_governed(con, as_of=as_of, now=now)
    # Forgotten people (`contact.erased`) leave the log and quarantine the same way, counted as redactions
    # so the publish rewrites the warehouse file and drops older copies of the log.
    scrub.add(scrub_erased_contacts(con, now=now))
    # Forgotten users (`user.erased`): their names leave the earlier `user.updated` events the same way.
    scrub.add(scrub_erased_users(con))
    if purge:
        # As of the earlier of the two: a past view purges only what had expired by then, and an as-of
        # a little ahead of the clock never erases what has not expired yet in the real world.
        purged = purge_expired(con, as_of=min(as_of, now), now=now)
        scrub.add(purged)
        report.purged_atoms = purged.redactions + purged.unchanged
    checkpoint("after_scrub")
    # What the scrubs wrote to re-fold, and what a run that died before its re-fold left.
    # In batches of about a claim's events: a first load's purge scrubs most of its history at once,
    # and one batch of it all held every re-folded cluster in memory.
    for keys in refold_batches(con, batch_size):
        apply_batch(con, keys, as_of=as_of, now=now, dead=dead, fault=fault)
        report.refolded_after_scrub += len(keys)
    if report.refolded_after_scrub:
        con.execute("delete from core.refold_pending")
        ran = True
    report.scrubbed_redactions = scrub.redactions
    report.scrubbed_corrections = scrub.corrections
    if not ran and last_as_of(con) != as_of:
        # Nothing new, but the as-of moved: events entering (or leaving) the window get (un)applied.
        batch = apply_batch(con, [], as_of=as_of, now=now, dead=dead, fault=fault)
        report.clusters += batch.clusters
        report.events_folded += batch.events_folded
        report.events_set_based += batch.events_set_based
    # Identity resolution reads the contact records and clients the apply just wrote (only orgs whose
    # inputs changed are re-resolved), so dbt's identity marts see this run's people.
    identity = resolve_identities(con)
    report.identity_orgs, report.identity_skipped_blocks = (
        len(identity.orgs_resolved),
        identity.skipped_blocks,
    )
    report.identity_orgs_carried = len(identity.orgs_carried)
    return report


def refold_batches(con: duckdb.DuckDBPyConnection, size: int) -> Iterator[list[outbox.Key]]:
    """The scrubbed events waiting for their re-fold (`memory.governance.await_refold`), each once, in
    batches whose clusters hold about `size` events together (a re-fold reads all of a cluster's events,
    and a batch's memory follows them); a cluster's keys are never split between two (each batch
    re-folds whole clusters: a split one would be folded twice).

    A key's cluster is its entity's in `core.entity_clusters`, else its entity itself (not yet folded).
    The plan stays in DuckDB and each batch's keys are read when it comes (a first load's purge at 5M
    events leaves a million of them). Counting the clusters' events scans the log, so a small scrub (a
    tenth of a batch) stays one batch.
    """
    con.execute(REFOLD_DDL)
    waiting = con.execute("select count(distinct (org_id, event_id)) from core.refold_pending").fetchone()[0]
    if not waiting:
        return
    if waiting <= size // 10:
        yield [
            (o, e)
            for o, e in con.execute(
                "select distinct org_id, event_id from core.refold_pending order by all"
            ).fetchall()
        ]
        return
    con.execute(
        """create or replace temp table refold_plan as
           with keyed as (
               select distinct k.org_id, k.event_id,
                      coalesce(c.cluster_id, e.entity_type || ':' || e.entity_id, '') as cluster
               from core.refold_pending k
               left join raw.events e on e.org_id = k.org_id and e.event_id = k.event_id
               left join core.entity_clusters c
                 on c.org_id = e.org_id and c.entity_type = e.entity_type and c.entity_id = e.entity_id
           ),
           sizes as (
               select c.org_id, c.cluster_id, count(*) as events
               from core.entity_clusters c
               semi join (select distinct org_id, cluster from keyed) t
                 on t.org_id = c.org_id and t.cluster = c.cluster_id
               join raw.events e
                 on e.org_id = c.org_id and e.entity_type = c.entity_type and e.entity_id = c.entity_id
               group by all
           ),
           clusters as (
               select t.org_id, t.cluster, coalesce(s.events, 1) as events
               from (select distinct org_id, cluster from keyed) t
               left join sizes s on s.org_id = t.org_id and s.cluster_id = t.cluster
           ),
           -- A cluster's batch: the events of the clusters before it, in whole batches.
           placed as (
               select org_id, cluster,
                      coalesce(sum(events) over (order by org_id, cluster
                                                 rows between unbounded preceding and 1 preceding), 0)
                      // $size as batch
               from clusters
           )
           select k.org_id, k.event_id, p.batch
           from keyed k join placed p on p.org_id = k.org_id and p.cluster = k.cluster""",
        {"size": size},
    )
    try:
        for (batch,) in con.execute("select distinct batch from refold_plan order by batch").fetchall():
            yield [
                (o, e)
                for o, e in con.execute(
                    "select org_id, event_id from refold_plan where batch = ? order by org_id, event_id",
                    [batch],
                ).fetchall()
            ]
    finally:
        con.execute("drop table if exists refold_plan")


def unaccounted_events(con: duckdb.DuckDBPyConnection, store: Path, as_of: datetime) -> dict[str, int]:
    """The apply asset check's figures: every accepted event up to as-of is judged, dead, or in flight."""
    in_flight = keys_with_status(store, ("pending", "claimed"))
    dead = keys_with_status(store, ("dead",))
    schema = {"org_id": pl.Utf8, "event_id": pl.Utf8}
    con.register("check_in_flight", pl.DataFrame(in_flight, schema=schema, orient="row").to_arrow())
    con.register("check_dead", pl.DataFrame(dead, schema=schema, orient="row").to_arrow())
    row = con.execute(
        """select
             count(*) filter (where o.event_id is not null),
             count(*) filter (where o.event_id is null and d.event_id is not null),
             count(*) filter (where o.event_id is null and d.event_id is null and f.event_id is not null),
             count(*) filter (where o.event_id is null and d.event_id is null and f.event_id is null)
           from raw.events e
           left join core.event_outcomes o using (org_id, event_id)
           left join check_dead d using (org_id, event_id)
           left join check_in_flight f using (org_id, event_id)
           where e.occurred_at <= $as_of""",
        {"as_of": as_of},
    ).fetchone()
    outcomes = dict(con.execute("select outcome, count(*) from core.event_outcomes group by all").fetchall())
    return {
        "judged": row[0],
        "dead_lettered": row[1],
        "in_flight": row[2],
        "unaccounted": row[3],
        **{f"outcome/{k}": v for k, v in sorted(outcomes.items())},
    }


def retry_dead_letters(store: Path, keys: list[outbox.Key], now: datetime) -> list[outbox.Key]:
    """Put dead letters back in the queue after a fix (attempts reset); the next run applies them."""
    return outbox.retry_dead(store, keys, now)


__all__ = [
    "ApplyRunReport",
    "FailedCluster",
    "enqueue_file_events",
    "enqueue_missing",
    "run_apply",
    "unaccounted_events",
]
