"""The outbox: per-event work items in the control store (`<home>/control.sqlite`, SQLite in WAL mode).

Why here and not in the warehouse: many workers (threads, processes, sensors) claim concurrently while a
Dagster run holds the DuckDB warehouse, and SQLite in WAL mode takes short write transactions from many
processes (`BEGIN IMMEDIATE` + one `UPDATE … RETURNING` per claim; see docs/architecture.md).

Semantics (the ones River, pgmq and Oban use):

* Delivery is **at least once**; the *effect* is made exactly once by fencing (below).
* A claim counts as an attempt (`attempts + 1` inside the claim), so an item that kills its worker still
  uses up attempts and ends in `dead` instead of crash-looping.
* Every claim carries a fresh `claim_token`. `complete` and `fail` only touch rows that are still
  `claimed` with that token, so a worker whose claim was recovered as stale cannot finish or fail the
  item a second time.
* Failures back off `min(cap, 2 ** (attempts - 1))` minutes (1, 2, 4, 8, 16, 32, 60, 60 …); the claim
  only takes items whose `next_attempt_at <= now`, so a poison item never blocks the others.
* Times are always passed in (an injected clock), never read from `datetime.now()` or SQLite's `now`,
  and stored as fixed-width ISO-8601 UTC text (`YYYY-MM-DDTHH:MM:SS.ffffffZ`) so that string order is
  time order and no session time zone can make a fresh claim look stale.

Effect exactly once — the two supported patterns (pick per effect):

1. **Same transaction** (effect lives in the control store): inside `with transaction(path) as con:`
   (`BEGIN IMMEDIATE` … `COMMIT`) call `still_owned(con, token, keys)`, apply the effect only for
   those keys, then `complete(con, token, those_keys, now)` on the same connection. The write lock
   makes check, effect and completion one atomic step: a recovered claim owns nothing, applies nothing.
2. **Idempotent effect** (effect lives elsewhere: warehouse, alert sink): make the effect idempotent by
   `(org_id, event_id)` (`INSERT … ON CONFLICT DO NOTHING`, `MERGE`, a sink-side dedupe key), apply it,
   then `complete(path, token, keys, now)`. A late finisher may re-apply, but the idempotent write makes
   that a no-op; `complete` then returns nothing for the lost keys.

Passing a connection that is already inside a transaction makes any writer here join that transaction
(no `BEGIN`/`COMMIT`, no retry: the caller owns both); otherwise each call is its own short transaction,
retried with bounded backoff on `database is locked`.
"""

from __future__ import annotations

import os
import random
import re
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal, TypeVar

import orjson

Store = str | os.PathLike[str] | sqlite3.Connection
Key = tuple[str, str]  # (org_id, event_id)
T = TypeVar("T")

STATUSES = ("pending", "claimed", "processed", "dead")
DEFAULT_MAX_ATTEMPTS = 8
DEFAULT_BACKOFF_CAP_MINUTES = 60
DEFAULT_STALE_CLAIM_MINUTES = 5

SCHEMA = """
create table if not exists outbox_items (
    org_id text not null,
    event_id text not null,
    entity_type text not null,
    entity_id text not null,
    occurred_at text not null,
    status text not null default 'pending'
        check (status in ('pending', 'claimed', 'processed', 'dead')),
    attempts integer not null default 0,
    next_attempt_at text not null,
    claimed_at text,
    claim_token text,
    claimed_by text,
    last_error text,
    processed_at text,
    dead_at text,
    enqueued_at text not null,
    primary key (org_id, event_id)
);
create index if not exists outbox_items_claimable
    on outbox_items (next_attempt_at, org_id, occurred_at, event_id) where status = 'pending';
create index if not exists outbox_items_claimed on outbox_items (claimed_at) where status = 'claimed';
drop index if exists outbox_items_org_status; -- the health report reads ranges of the one below instead
create index if not exists outbox_items_org_status_processed on outbox_items (org_id, status, processed_at);
-- Every apply run reads the dead letters (left out of every fold): without this a scan of all items.
create index if not exists outbox_items_dead on outbox_items (org_id, event_id) where status = 'dead';
create index if not exists outbox_items_token on outbox_items (claim_token) where claim_token is not null;
"""

_COLUMNS = "org_id, event_id, entity_type, entity_id, occurred_at, attempts"

# Every transaction here lasts milliseconds, so a lock held for seconds means a stuck writer: wait up to
# the busy timeout, then retry the whole transaction a bounded number of times (about 35 s in all, under
# Dagster's 60 s sensor timeout) and raise.
_LOCK_RETRIES = 6
_LOCK_BACKOFF_BASE_S = 0.05
_LOCK_BACKOFF_CAP_S = 1.0
_BUSY_TIMEOUT_MS = 5_000

if sqlite3.sqlite_version_info < (3, 35, 0):  # UPDATE … RETURNING
    raise ImportError(f"the outbox needs SQLite >= 3.35 (RETURNING), found {sqlite3.sqlite_version}")


# ----------------------------------------------------------------------------------------------- types


@dataclass(frozen=True)
class OutboxItem:
    """A claimed item; `attempts` already includes the current claim. `occurred_text` is the stored
    UTC text, parsed only when read (`occurred_at`: None outside Python's datetime range, the apply then
    judges the item itself): a first load claims a hundred thousand items and needs two times."""

    org_id: str
    event_id: str
    entity_type: str
    entity_id: str
    occurred_text: str
    attempts: int

    @property
    def key(self) -> Key:
        return (self.org_id, self.event_id)

    @property
    def occurred_at(self) -> datetime | None:
        return occurred_time(self.occurred_text)


@dataclass(frozen=True)
class Claim:
    """One claim: a fencing token and the items it owns (empty when nothing was due)."""

    token: str
    worker: str
    claimed_at: datetime
    items: tuple[OutboxItem, ...]

    @property
    def keys(self) -> list[Key]:
        return [(item.org_id, item.event_id) for item in self.items]

    def span(self) -> tuple[datetime, datetime] | None:
        """The earliest and latest `occurred_at`; None when empty or one is outside Python's range. Within
        it (four-digit years) texts are 27 characters and string order is time order: two are parsed."""
        texts = [item.occurred_text for item in self.items]
        if not texts or any(len(text) != 27 for text in texts):
            return None
        first, last = occurred_time(min(texts)), occurred_time(max(texts))
        return None if first is None or last is None else (first, last)

    def __bool__(self) -> bool:
        return bool(self.items)


@dataclass(frozen=True)
class Recovered:
    """What `recover_stale` did: claims put back to pending, and claims dead-lettered (no attempts left)."""

    requeued: list[Key]
    dead: list[Key]


# ----------------------------------------------------------------------------------------------- time


def utc(dt: datetime) -> datetime:
    """Aware datetime -> the same instant in UTC; naive datetimes are refused (they make 'stale' claims).

    Arithmetic must happen in UTC: Python adds a timedelta to a zoned datetime in *wall* time, so
    `01:04 EST - 5 min` across the fall-back gives `00:59 EDT`, an hour off in real time.
    """
    if not isinstance(dt, datetime) or dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError(f"an aware datetime is required, got {dt!r}")
    return dt.astimezone(UTC)


def to_text(dt: datetime) -> str:
    """Aware datetime -> fixed-width UTC text (`YYYY-MM-DDTHH:MM:SS.ffffffZ`): string order = time order."""
    return utc(dt).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def from_text(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


# The warehouse's `strftime(occurred_at, '%Y-%m-%dT%H:%M:%S.%fZ')`, also for years Python cannot hold
# (DuckDB writes year 0, negative and five-digit years in the same shape).
_WAREHOUSE_TEXT = re.compile(r"-?\d{1,6}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z")


def _occurred_text(value: Any) -> str:
    if isinstance(value, str) and len(value) == 27 and value[10] == "T" and value[-1] == "Z":
        return value  # already the stored form (the warehouse formats it so: no datetime round trip)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            # An accepted event dated outside Python's range must still be queued (the apply then
            # fails it alone); only the warehouse's own form is taken as is.
            if _WAREHOUSE_TEXT.fullmatch(value):
                return value
            raise
        return to_text(parsed)  # refuses a timestamp without offset
    return to_text(value)


def occurred_time(text: str) -> datetime | None:
    """A stored `occurred_at` as a datetime, or None when Python's datetime cannot hold it."""
    try:
        return from_text(text)
    except (ValueError, OverflowError):
        return None


def backoff_minutes(attempt: int, cap: int = DEFAULT_BACKOFF_CAP_MINUTES) -> int:
    """Delay after the `attempt`-th failed attempt: `min(cap, 2 ** (attempt - 1))` -> 1, 2, 4, …, cap."""
    if attempt < 1:
        raise ValueError("attempt starts at 1")
    if cap < 1:
        raise ValueError("cap must be positive")
    return min(cap, 2 ** min(attempt - 1, 62))


# ----------------------------------------------------------------------------------------- connection


@contextmanager
def connect(path: str | os.PathLike[str]) -> Iterator[sqlite3.Connection]:
    """Autocommit connection (explicit transactions only) with the control store's pragmas + schema.

    `synchronous=normal` (this connection only): in WAL mode it never corrupts, it only may lose the
    last commits on an OS crash or power cut. That is safe here: enqueue is re-run from the warehouse
    every run, and a lost `processed`/`dead` mark means one more at-least-once delivery, which the
    effect patterns above absorb. It removes an fsync per commit, the main cost of a claim.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(path, timeout=_BUSY_TIMEOUT_MS / 1000, isolation_level=None)
    try:
        con.execute("pragma journal_mode=wal")
        con.execute(f"pragma busy_timeout={_BUSY_TIMEOUT_MS}")
        con.execute("pragma synchronous=normal")
        ensure_schema(con)
        yield con
    finally:
        con.close()


def ensure_schema(con: sqlite3.Connection) -> None:
    for statement in SCHEMA.split(";"):
        if statement.strip():
            con.execute(statement)


def _is_lock_error(exc: sqlite3.OperationalError) -> bool:
    message = str(exc).lower()
    return "locked" in message or "busy" in message


def _retrying(op: Callable[[], T]) -> T:
    """Run `op`, retrying lock errors with capped exponential backoff + jitter; re-raise after the last."""
    for attempt in range(_LOCK_RETRIES):
        try:
            return op()
        except sqlite3.OperationalError as exc:
            if not _is_lock_error(exc) or attempt == _LOCK_RETRIES - 1:
                raise
            delay = min(_LOCK_BACKOFF_CAP_S, _LOCK_BACKOFF_BASE_S * 2**attempt)
            time.sleep(delay * random.uniform(0.5, 1.0))
    raise AssertionError("unreachable")


def _in_tx(con: sqlite3.Connection, fn: Callable[[sqlite3.Connection], T]) -> T:
    con.execute("begin immediate")
    try:
        result = fn(con)
        con.execute("commit")
    except BaseException:
        if con.in_transaction:
            con.execute("rollback")
        raise
    return result


@contextmanager
def transaction(path: str | os.PathLike[str]) -> Iterator[sqlite3.Connection]:
    """A write transaction for effect pattern 1: the write lock is taken up front (`BEGIN IMMEDIATE`,
    retried like every writer here), the body runs holding it, commit on success, rollback on error.

        with outbox.transaction(path) as con:
            owned = outbox.still_owned(con, claim.token, keys)
            apply_effect(con, owned)                      # same SQLite file
            outbox.complete(con, claim.token, owned, now)
    """
    with connect(path) as con:
        _retrying(lambda: con.execute("begin immediate"))
        try:
            yield con
            con.execute("commit")
        except BaseException:
            if con.in_transaction:
                con.execute("rollback")
            raise


def _write(store: Store, fn: Callable[[sqlite3.Connection], T]) -> T:
    """Run `fn` in a write transaction: the caller's if one is open, else a fresh, retried one."""
    if isinstance(store, sqlite3.Connection):
        if store.in_transaction:
            return fn(store)
        ensure_schema(store)
        return _retrying(lambda: _in_tx(store, fn))

    def op() -> T:
        with connect(store) as con:
            return _in_tx(con, fn)

    return _retrying(op)


def read_store(store: Store, fn: Callable[[sqlite3.Connection], T], empty: T) -> T:
    if isinstance(store, sqlite3.Connection):
        return fn(store)
    if not Path(store).exists():
        return empty

    def op() -> T:
        with connect(store) as con:
            return fn(con)

    return _retrying(op)


def _field(item: Mapping[str, Any] | Any, name: str) -> Any:
    return item[name] if isinstance(item, Mapping) else getattr(item, name)


# ---------------------------------------------------------------------------------------------- writes


def enqueue(store: Store, items: Iterable[Mapping[str, Any] | Any], now: datetime) -> int:
    """Add items (mappings or objects with org_id, event_id, entity_type, entity_id, occurred_at).

    Idempotent by (org_id, event_id): an existing item, whatever its state, is left alone, so "enqueue
    every accepted event the outbox lacks" can run at the start of every run. Returns how many were new.
    """
    stamp = to_text(now)
    rows = [
        (
            str(_field(item, "org_id")),
            str(_field(item, "event_id")),
            str(_field(item, "entity_type")),
            str(_field(item, "entity_id")),
            _occurred_text(_field(item, "occurred_at")),
            stamp,
            stamp,
        )
        for item in items
    ]
    if not rows:
        return 0

    def run(con: sqlite3.Connection) -> int:
        before = con.total_changes
        con.executemany(
            "insert or ignore into outbox_items (org_id, event_id, entity_type, entity_id, occurred_at,"
            " status, attempts, next_attempt_at, enqueued_at) values (?, ?, ?, ?, ?, 'pending', 0, ?, ?)",
            rows,
        )
        return con.total_changes - before

    return _write(store, run)


def claim(store: Store, *, now: datetime, limit: int, worker: str) -> Claim:
    """Atomically claim up to `limit` due items (one `UPDATE … RETURNING` under `BEGIN IMMEDIATE`).

    Order: earliest `next_attempt_at` first, then org, `occurred_at`, `event_id` (deterministic; an item
    that failed moves behind everything already due, so nothing starves). Each claim adds one attempt.
    """
    if limit < 1:
        raise ValueError("limit must be at least 1")
    stamp = to_text(now)
    token = uuid.uuid4().hex

    def run(con: sqlite3.Connection) -> list[tuple[Any, ...]]:
        return con.execute(
            "update outbox_items set status = 'claimed', attempts = attempts + 1,"
            " claim_token = ?, claimed_at = ?, claimed_by = ?"
            " where rowid in (select rowid from outbox_items"
            "   where status = 'pending' and next_attempt_at <= ?"
            "   order by next_attempt_at, org_id, occurred_at, event_id limit ?)"
            f" returning {_COLUMNS}, next_attempt_at",
            (token, stamp, worker, stamp, limit),
        ).fetchall()

    rows = _write(store, run)
    # RETURNING order is unspecified in SQLite: restore the claim order.
    rows.sort(key=lambda r: (r[6], r[0], r[4], r[1]))
    claimed = tuple(OutboxItem(r[0], r[1], r[2], r[3], r[4], r[5]) for r in rows)
    return Claim(token=token, worker=worker, claimed_at=from_text(stamp), items=claimed)


def still_owned(store: Store, token: str, keys: Iterable[Key]) -> list[Key]:
    """The keys still claimed under `token`. Meaningful for fencing only inside the caller's
    `BEGIN IMMEDIATE` transaction on the same connection that then applies the effect and completes."""
    wanted = list(dict.fromkeys(keys))

    def run(con: sqlite3.Connection) -> list[Key]:
        return [
            key
            for key in wanted
            if con.execute(
                "select 1 from outbox_items where org_id = ? and event_id = ?"
                " and status = 'claimed' and claim_token = ?",
                (*key, token),
            ).fetchone()
        ]

    return read_store(store, run, [])


def complete(
    store: Store, token: str, keys: Iterable[Key], now: datetime, *, whole_claim: bool = False
) -> list[Key]:
    """Mark items done, fenced by `token`: returns only the keys this call moved to `processed`.

    A key missing from the result was not owned any more (recovered as stale and possibly re-claimed,
    or already finished): the caller must treat its effect as not committed by this claim (pattern 1:
    roll back; pattern 2: the idempotent effect already makes it harmless). `whole_claim`: `keys` are
    all of the claim's (`Claim.keys`), so its rows are found by the token alone, which only it holds.
    """
    stamp = to_text(now)
    wanted = list(dict.fromkeys(keys))
    named = "(org_id, event_id) in (select json_extract(value, '$[0]'), json_extract(value, '$[1]') from json_each(?))"

    def run(con: sqlite3.Connection) -> list[Key]:  # one statement per claim, however large (keys: JSON)
        moved = con.execute(
            "update outbox_items set status = 'processed', processed_at = ? where claim_token = ?"
            f" and status = 'claimed' and {'true' if whole_claim else named} returning org_id, event_id",
            (stamp, token) if whole_claim else (stamp, token, orjson.dumps(wanted).decode()),
        ).fetchall()
        done = {(r[0], r[1]) for r in moved}
        return [key for key in wanted if key in done]

    return _write(store, run) if wanted else []


def fail(
    store: Store,
    token: str,
    key: Key,
    error: str,
    now: datetime,
    *,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    cap_minutes: int = DEFAULT_BACKOFF_CAP_MINUTES,
) -> Literal["pending", "dead"] | None:
    """Record a failed attempt, fenced by `token`. Returns the new status, or None if not owned.

    With attempts left the item goes back to `pending` after `backoff_minutes(attempts)`; once the
    claim that failed was attempt `max_attempts` it goes to `dead` (dead letter) with the error kept.
    """
    now = utc(now)
    stamp = to_text(now)

    def run(con: sqlite3.Connection) -> Literal["pending", "dead"] | None:
        row = con.execute(
            "select attempts from outbox_items where org_id = ? and event_id = ?"
            " and status = 'claimed' and claim_token = ?",
            (*key, token),
        ).fetchone()
        if row is None:
            return None
        attempts = int(row[0])
        if attempts >= max_attempts:
            con.execute(
                "update outbox_items set status = 'dead', dead_at = ?, last_error = ?,"
                " claim_token = null, claimed_at = null where org_id = ? and event_id = ?",
                (stamp, error, *key),
            )
            return "dead"
        due = to_text(now + timedelta(minutes=backoff_minutes(attempts, cap_minutes)))
        con.execute(
            "update outbox_items set status = 'pending', next_attempt_at = ?, last_error = ?,"
            " claim_token = null, claimed_at = null where org_id = ? and event_id = ?",
            (due, error, *key),
        )
        return "pending"

    return _write(store, run)


def recover_stale(
    store: Store,
    now: datetime,
    *,
    stale_minutes: int = DEFAULT_STALE_CLAIM_MINUTES,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
) -> Recovered:
    """Release claims whose worker has gone quiet.

    Boundary: a claim is stale when `claimed_at < now - stale_minutes`, strictly; a claim exactly
    `stale_minutes` old stays claimed (4:59 and 5:00 stay, 5:01 is recovered). The window must exceed
    the longest claim-to-complete time, or a live worker loses its claim (fencing keeps that safe, but
    the work is wasted). Recovered items are due at once (`next_attempt_at = now`) with their token
    cleared; items whose attempts are used up go to `dead`, as the claim already counted the attempt.
    """
    now = utc(now)
    return _recover(store, now, to_text(now - timedelta(minutes=stale_minutes)), max_attempts, "stale claim")


def recover_abandoned(store: Store, now: datetime, *, max_attempts: int = DEFAULT_MAX_ATTEMPTS) -> Recovered:
    """Release every claim, whatever its age, exactly as `recover_stale` releases stale ones.

    Only for a caller that knows no other worker is alive: one holding the lock every claimer takes
    (the apply holds the warehouse writer lock). A claim still open then belongs to a worker that died,
    and waiting out the stale window would let a run publish without those items' state.
    """
    return _recover(store, utc(now), None, max_attempts, "abandoned claim")


def _recover(store: Store, now: datetime, horizon: str | None, max_attempts: int, what: str) -> Recovered:
    """Claims made before `horizon` (every claim when None) back to pending, or dead without attempts."""
    stamp = to_text(now)

    def run(con: sqlite3.Connection) -> Recovered:
        dead = con.execute(
            "update outbox_items set status = 'dead', dead_at = ?,"
            " last_error = ? || ' by ' || coalesce(claimed_by, '?') || ' since ' || claimed_at"
            "   || ' (attempt ' || attempts || ', attempts exhausted)',"
            " claim_token = null, claimed_at = null"
            " where status = 'claimed' and (? is null or claimed_at < ?) and attempts >= ?"
            " returning org_id, event_id",
            (stamp, what, horizon, horizon, max_attempts),
        ).fetchall()
        requeued = con.execute(
            "update outbox_items set status = 'pending', next_attempt_at = ?,"
            " last_error = ? || ' by ' || coalesce(claimed_by, '?') || ' since ' || claimed_at"
            "   || ' (attempt ' || attempts || ')',"
            " claim_token = null, claimed_at = null"
            " where status = 'claimed' and (? is null or claimed_at < ?)"
            " returning org_id, event_id",
            (stamp, what, horizon, horizon),
        ).fetchall()
        return Recovered(
            requeued=sorted((r[0], r[1]) for r in requeued), dead=sorted((r[0], r[1]) for r in dead)
        )

    return _write(store, run)


def retry_dead(store: Store, keys: Iterable[Key], now: datetime) -> list[Key]:
    """Put dead letters back to `pending` with attempts reset (after a fix). Returns the revived keys;
    keys that are not dead are left alone. `last_error` is kept as history until the next failure."""
    stamp = to_text(now)
    wanted = list(dict.fromkeys(keys))

    def run(con: sqlite3.Connection) -> list[Key]:
        revived: list[Key] = []
        for org_id, event_id in wanted:
            row = con.execute(
                "update outbox_items set status = 'pending', attempts = 0, next_attempt_at = ?,"
                " dead_at = null, claim_token = null, claimed_at = null"
                " where org_id = ? and event_id = ? and status = 'dead' returning org_id, event_id",
                (stamp, org_id, event_id),
            ).fetchone()
            if row:
                revived.append((row[0], row[1]))
        return revived

    return _write(store, run) if wanted else []


__all__ = [
    "Claim",
    "Key",
    "OutboxItem",
    "Recovered",
    "backoff_minutes",
    "claim",
    "complete",
    "connect",
    "enqueue",
    "ensure_schema",
    "fail",
    "occurred_time",
    "from_text",
    "read_store",
    "recover_abandoned",
    "recover_stale",
    "retry_dead",
    "still_owned",
    "to_text",
    "transaction",
    "utc",
]
