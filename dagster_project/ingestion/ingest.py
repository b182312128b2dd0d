"""Ingest inbox files into the warehouse's event log, one transaction per file.

Per file: skip it if its content hash is already in the ledger; otherwise validate every record, store
the valid new events, count identical duplicates, quarantine the rest with a reason, and write the
ledger row (lines = accepted + duplicates + quarantined) in the same transaction as the data.

Two lanes share a run (`ingest_paths`, scheduled by `lanes`): they prepare files (read, parse, validate:
nothing that needs the log) into the stage database (`parsing.stage_schema`), and judge them against
the log and store them one at a time, in file order. The judging runs before the file's transaction, into
temp tables: rows written inside an open transaction are its private storage, which DuckDB scans and
copies on one thread, so judging inside it took twice as long. The transaction only copies the file's
verdicts (`pending_events`, `pending_quarantine`) into the log. Writers never run concurrently (the writer
lock) and files are stored one at a time, so the log a file was judged against is still the log its
transaction appends to.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import duckdb
import orjson
import polars as pl

from dagster_project.ingestion.batches import JsonFile, ParquetRows, RecordBatch
from dagster_project.ingestion.envelope import load_validators
from dagster_project.ingestion.files import InboxFile, NotInboxFile, UnreadableFile
from dagster_project.ingestion.lanes import LaneWork, run_lanes
from dagster_project.ingestion.parsing import (
    STAGE_DATABASE,
    drop_stage,
    stage_json_file,
    stage_raw_text,
    stage_schema,
)
from dagster_project.ingestion.read_jsonl import one_batch, read_json_data
from dagster_project.ingestion.readers import content_hash, file_format, inbox_name, read_batches
from dagster_project.ingestion.validation import prepare_batch, use_prepared, validate_batch
from dagster_project.warehouse.store import ensure_raw_schema

Progress = Callable[[str, int], None]

# One pass over the validated batch: every record (invalid ones keep `reason`, no verdict), each valid
# one checked against the stored log by its quick content hash (`parsing._TIMESTAMP_SQL`; a
# mismatch is only a suspect: `_resolve_collisions` compares the canonical forms), then against the
# first record of its key within the batch when the key repeats there (`repeats`, found while the batch
# was prepared): that first one is the reference unless the log already holds the key. `classified` is
# narrow (no payload or other wide columns): `_SUSPECT_ROWS_SQL` joins them back from `parsed` by line
# for the few records that need them, so the payloads are copied once, into the log.
_CLASSIFY_SQL = """
create or replace temp table classified as
with v as (select line, reason, detail, org_id, event_id, content_hash from validated),
m as (
    select v.*, case when v.reason is null then e.content_hash end as stored_hash,
        case when v.reason is null then e.stored_line end as stored_line
    from v left join (
        select org_id, event_id, content_hash, null::bigint as stored_line from log_matches
        union all  -- this file's earlier batches
        select org_id, event_id, content_hash, source_line from pending_events
    ) e on v.org_id = e.org_id and v.event_id = e.event_id
)
select m.*, case when m.reason is null then r.first_line end as first_line,
    m.reason is not null or r.first_line is null or m.line = r.first_line as is_first,
    case when m.reason is not null then null
         when m.stored_hash is not null then
             case when m.stored_hash = m.content_hash then 'duplicate' else 'suspect' end
         when r.first_line is null or m.line = r.first_line then 'accept'
         when m.content_hash = r.first_hash then 'duplicate'
         else 'suspect' end as verdict
from m left join repeats r on m.org_id = r.org_id and m.event_id = r.event_id
"""

# The log's rows whose key hash the batch holds, fetched by rowid: the join that finds them reads only
# the log's `key_hash` column; keys and stored content hashes are read for these few rows alone.
_LOG_MATCHES_SQL = """
create or replace temp table log_matches as
select rowid as log_rowid, org_id, event_id, content_hash from raw.events
where rowid in (select unnest($ids::bigint[]))
"""

# Where a file's verdicts wait for its transaction: shaped like the tables they are copied into.
_PENDING_SQL = """
create or replace temp table pending_events as select * from raw.events limit 0;
create or replace temp table pending_quarantine as select * from raw.quarantine limit 0;
"""

# The batch's records a suspected conflict needs, with their event fields as `validated` has them
# (actor: a string or null): each suspect, and the batch's first valid record of each suspect's key (the
# reference where the log does not hold the key). One join with `parsed` fetches them all.
_SUSPECT_ROWS_SQL = """
with keys as (select distinct org_id, event_id from classified where verdict = 'suspect'),
wanted as (
    select c.line, c.verdict = 'suspect' as suspect, c.is_first, c.org_id, c.event_id
    from classified c semi join keys using (org_id, event_id)
    where c.verdict = 'suspect' or (c.is_first and c.reason is null)
)
select w.*, p.event_name, p.entity_type, p.entity_id,
    case when p.t_actor = 'VARCHAR' then p.actor end as actor, p.occurred_at, p.payload::varchar as payload
from wanted w join parsed p using (line)
"""


@dataclass
class FileResult:
    file: str
    content_hash: str
    format: str
    status: str  # ok | unreadable | skipped (already ingested)
    lines: int = 0
    accepted: int = 0
    duplicates: int = 0
    quarantined: int = 0
    reasons: Counter[str] = field(default_factory=Counter)


@dataclass
class IngestReport:
    files: list[FileResult] = field(default_factory=list)
    # Paths handed in that are not regular files (a link, a pipe) or are gone: not read, with why.
    passed_over: list[tuple[str, str]] = field(default_factory=list)

    @property
    def ingested(self) -> list[FileResult]:
        return [f for f in self.files if f.status != "skipped"]

    def total(self, attr: str) -> int:
        return sum(getattr(f, attr) for f in self.ingested)


@dataclass
class _OrgCounts:
    lines: int = 0
    accepted: int = 0
    duplicates: int = 0
    quarantined: int = 0


def _canonical(row: dict) -> tuple:
    """The contract's canonical form: UTC µs timestamp, payload with sorted keys (dict equality)."""
    return (
        row["event_name"],
        row["entity_type"],
        row["entity_id"],
        row["actor"],
        row["occurred_at"],
        orjson.loads(row["payload"]),
    )


_CANONICAL_COLUMNS = (
    "org_id, event_id, event_name, entity_type, entity_id, actor, occurred_at, payload::varchar as payload"
)


def _resolve_collisions(con: duckdb.DuckDBPyConnection) -> None:
    """Suspects (quick hash differs from the first stored/seen): same content after all, or a conflict."""
    if con.execute("select count(*) from classified where verdict = 'suspect'").fetchone()[0] == 0:
        return
    rows = con.execute(_SUSPECT_ROWS_SQL).pl()
    con.register("suspect_keys", rows.filter(pl.col("suspect")).select("org_id", "event_id").unique())
    try:
        # The log's rows by the rowids the key join found (`log_matches`): a join that also read their
        # payloads scanned every payload in the log.
        stored_rows = con.execute(
            f"select {_CANONICAL_COLUMNS} from raw.events "
            "where rowid in (select log_rowid from log_matches join suspect_keys using (org_id, event_id)) "
            f"union all select {_CANONICAL_COLUMNS} from pending_events join suspect_keys using (org_id, event_id)"
        ).pl()
    finally:
        con.unregister("suspect_keys")
    stored = {(r["org_id"], r["event_id"]): _canonical(r) for r in stored_rows.iter_rows(named=True)}
    firsts = {
        (r["org_id"], r["event_id"]): _canonical(r)
        for r in rows.filter(pl.col("is_first")).iter_rows(named=True)
    }
    verdicts = []
    for row in rows.filter(pl.col("suspect")).iter_rows(named=True):
        key = (row["org_id"], row["event_id"])
        reference = stored.get(key, firsts.get(key))
        verdicts.append((row["line"], "duplicate" if reference == _canonical(row) else "conflict"))
    con.register(
        "resolved", pl.DataFrame(verdicts, schema={"line": pl.Int64, "verdict": pl.String}, orient="row")
    )
    try:
        con.execute(
            "update classified set verdict = r.verdict from resolved r where classified.line = r.line"
        )
    finally:
        con.unregister("resolved")


_QUARANTINE_SQL = """
insert into pending_quarantine
select $hash, $file, line, reason, detail, r.raw, org_id, event_id, $now
from classified v join raws r using (line) where reason is not null
union all
select $hash, $file, c.line, 'conflicting_duplicate',
    'event_id already accepted with different content (first seen '
        || case when c.stored_line is not null then 'at line ' || c.stored_line
                when c.stored_hash is not null then 'in an earlier file'
                else 'at line ' || c.first_line end || ')',
    r.raw, c.org_id, c.event_id, $now
from classified c join raws r using (line)
where c.verdict = 'conflict'
"""

_COUNTS_SQL = """
select org_id, coalesce(verdict, 'quarantine'), count(*) from classified group by all
"""


def _quarantine(
    con: duckdb.DuckDBPyConnection, batch: RecordBatch, schema: str, info: InboxFile, now: datetime
) -> None:
    """Quarantine invalid records and conflicts with their raw text, fetched only for those records
    (a Parquet batch's from its staged rows in `schema`)."""
    lines = con.execute(
        "select line from classified where reason is not null or verdict = 'conflict' order by line"
    ).pl()["line"]
    if lines.is_empty():
        return
    wanted = lines.to_list()
    raws = stage_raw_text(con, schema, wanted) if isinstance(batch, ParquetRows) else batch.raw_text(wanted)
    con.register("raws", raws)
    try:
        con.execute(_QUARANTINE_SQL, {"hash": info.content_hash, "file": info.name, "now": now})
    finally:
        con.unregister("raws")


def _append_accepted(con: duckdb.DuckDBPyConnection, table: str, info: InboxFile, now: datetime) -> None:
    """Copy the judged batch's new events into `table` (the log, or `pending_events`).

    Every record but the few that are not new events (invalid, duplicate, conflicting): an anti join
    against those is far cheaper than joining every record to its verdict.
    """
    con.execute(
        f"""insert into {table}
            select p.org_id, p.event_id, p.occurred_at, p.event_name, p.entity_type, p.entity_id,
                   case when p.t_actor = 'VARCHAR' then p.actor end, p.payload, p.content_hash, $now, $file,
                   p.line, p.key_hash
            from parsed p anti join (select line from classified where verdict is distinct from 'accept') r
                using (line)""",
        {"now": now, "file": info.name},
    )


def _judge_batch(
    con: duckdb.DuckDBPyConnection,
    batch: RecordBatch,
    schema: str,
    info: InboxFile,
    now: datetime,
    orgs: dict[str | None, _OrgCounts],
    result: FileResult,
) -> None:
    """Classify the validated batch against the log and the file's earlier batches, quarantine, count.

    Its new events (verdict `accept`) stay in the stage until `_append_accepted` copies them.
    """
    # Candidates by the stored key hash: one integer column of the log, where joining by the two key
    # strings read them for the whole log, per batch. A hash collision only adds a candidate:
    # `_CLASSIFY_SQL` matches `log_matches` to the batch by the keys themselves.
    stored = con.execute(
        "select e.rowid from raw.events e "
        "semi join (select key_hash from validated where reason is null) v using (key_hash)"
    ).fetchall()
    con.execute(_LOG_MATCHES_SQL, {"ids": [rowid for (rowid,) in stored]})
    con.execute(_CLASSIFY_SQL)
    _resolve_collisions(con)
    _quarantine(con, batch, schema, info, now)
    column = {
        "accept": "accepted",
        "duplicate": "duplicates",
        "conflict": "quarantined",
        "quarantine": "quarantined",
    }
    for org_id, verdict, n in con.execute(_COUNTS_SQL).fetchall():
        org = orgs.setdefault(org_id, _OrgCounts())
        setattr(org, column[verdict], getattr(org, column[verdict]) + n)
        org.lines += n
        setattr(result, column[verdict], getattr(result, column[verdict]) + n)
    reasons = con.execute(
        "select reason, count(*) from classified where reason is not null group by all "
        "union all select 'conflicting_duplicate', count(*) from classified where verdict = 'conflict' "
        "having count(*) > 0"
    ).fetchall()
    result.reasons.update(dict(reasons))


def _write_ledger(
    con: duckdb.DuckDBPyConnection, info: InboxFile, result: FileResult, orgs: dict, now: datetime
) -> None:
    known = [o for o in orgs if o is not None]
    single_org = known[0] if len(known) == 1 else None
    con.execute(
        "insert into raw.ingest_ledger values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            info.content_hash,
            info.name,
            info.format,
            result.lines,
            result.accepted,
            result.duplicates,
            result.quarantined,
            single_org,
            result.status,
            now,
        ],
    )
    for org_id, counts in sorted(orgs.items(), key=lambda kv: (kv[0] is None, kv[0] or "")):
        con.execute(
            "insert into raw.ingest_ledger_orgs values (?, ?, ?, ?, ?, ?, ?)",
            [
                info.content_hash,
                info.name,
                org_id,
                counts.lines,
                counts.accepted,
                counts.duplicates,
                counts.quarantined,
            ],
        )


@dataclass
class _Read:
    """A file opened for ingest: its first batch already read (or the reason it cannot be read).

    `schema` holds the file's stage-1 tables; `prepared`: the first batch is already parsed there.
    """

    info: InboxFile
    schema: str
    first: RecordBatch | None = None
    rest: Iterator[RecordBatch] = field(default_factory=lambda: iter(()))
    error: UnreadableFile | None = None
    prepared: bool = False

    def batches(self) -> Iterator[RecordBatch]:
        if self.error is not None:
            raise self.error
        if self.first is not None:
            yield self.first
        yield from self.rest


def _inbox_file(path: Path, name: str | None = None) -> InboxFile:
    fmt = file_format(path)
    if fmt is None:
        raise ValueError(f"{path.name}: not a contract format (.jsonl, .jsonl.gz, .csv, .parquet)")
    digest = content_hash(path)  # raises NotInboxFile before a link's target is looked at
    stat = path.stat(follow_symlinks=False)
    return InboxFile(path, fmt, digest, stat.st_size, stat.st_mtime_ns, name or path.name)


def _inbox_file_or_why(path: Path, name: str) -> InboxFile | str:
    """The file hashed, or why it is not read: not a regular file (a link), or gone since it was listed."""
    try:
        return _inbox_file(path, name)
    except NotInboxFile as exc:
        return f"{exc.strerror}: not read"
    except FileNotFoundError:
        return "gone before it was read"


def _read(info: InboxFile, con: duckdb.DuckDBPyConnection, schema: str, now: datetime) -> _Read:
    """Read and prepare the first batch: most of a file's work that does not need the log (the usual
    JSON Lines file is one batch). `con` is the connection to prepare it on (a lane's own cursor).

    Files are hashed up front and read later (by a lane): one rewritten in between,
    against the inbox's write-then-rename rule, is hashed again so the ledger names what was read.
    """
    try:
        stat = info.path.stat(follow_symlinks=False)
        if (stat.st_size, stat.st_mtime_ns) != (info.size, info.mtime_ns):
            info = _inbox_file(info.path, info.name)
    except OSError as exc:
        # Removed, or swapped for a link, since it was hashed: the ledger names the content that was
        # hashed, and says it could not be read.
        return _Read(info, schema, error=UnreadableFile("unreadable_file", f"cannot read {info.name}: {exc}"))
    inflated = None
    if info.format == "jsonl.gz":
        # Python inflates first, within its limits: DuckDB's reader would inflate a decompression bomb
        # whole (it is not interruptible there). Python's line split still overlaps DuckDB's pass.
        try:
            inflated = read_json_data(info.path, compressed=True)
        except UnreadableFile as exc:
            return _Read(info, schema, error=exc)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest-json") as duck:
        # DuckDB reads a JSON Lines file of one batch itself: its pass runs while Python splits the same
        # file's lines (a larger file's batches are each read from a file of their own, when cut)
        whole = info.format in ("jsonl", "jsonl.gz") and one_batch(
            info.size if inflated is None else len(inflated)
        )
        staged = (
            duck.submit(stage_json_file, con, info.path, compressed=info.format == "jsonl.gz", schema=schema)
            if whole
            else None
        )
        batches = read_batches(info.path, info.format, data=inflated, whole=whole)
        # a batch holds its lines: the whole buffer need not outlive the split (a large file's batches
        # are cut from it as they come, so the reader keeps it until the last)
        del inflated
        try:
            first = next(batches, None)
        except UnreadableFile as exc:
            if staged is not None:
                staged.exception()  # DuckDB's view of an unreadable file does not matter; wait for it
            return _Read(info, schema, error=exc)
        error = staged.exception() if staged is not None else None
        # OSError: the path stopped being a regular file after it was hashed; Python's read says so too
        if error is not None and not isinstance(error, duckdb.Error | OSError):
            raise error
        refused = error is not None
        if refused and isinstance(first, JsonFile):
            first.duckdb_refused = True  # DuckDB's reader refused a file Python read: parse Python's lines
    if first is None:
        return _Read(info, schema)
    try:
        prepare_batch(con, first, now=now, schema=schema, json_staged=staged is not None and not refused)
    except UnreadableFile as exc:  # DuckDB reads Parquet rows itself: a damaged page shows here
        return _Read(info, schema, error=exc)
    return _Read(info, schema, first, batches, prepared=True)


def _is_ingested(con: duckdb.DuckDBPyConnection, info: InboxFile) -> bool:
    return (
        con.execute("select 1 from raw.ingest_ledger where content_hash = ?", [info.content_hash]).fetchone()
        is not None
    )


def _skipped(info: InboxFile) -> FileResult:
    return FileResult(info.name, info.content_hash, info.format, status="skipped")


def _judge_file(
    con: duckdb.DuckDBPyConnection, read: _Read, *, now: datetime, progress: Progress | None
) -> tuple[FileResult, dict[str | None, _OrgCounts], bool]:
    """Validate and classify every batch (a file that turns out unreadable: whole).

    Every batch but the last moves its new events to `pending_events` before the next is judged; the
    last one's stay in the stage (`parsed`) for the transaction to copy once (the third value: whether there is one).
    """
    info = read.info
    name, fmt = info.name, info.format
    result = FileResult(name, info.content_hash, fmt, status="ok")
    orgs: dict[str | None, _OrgCounts] = {}
    judged = False
    try:
        for batch in read.batches():
            if judged:
                _append_accepted(con, "pending_events", info, now)
            if batch is read.first and read.prepared:
                use_prepared(con, read.schema)
            else:
                validate_batch(con, batch, now=now, schema=read.schema)
            judged = True
            _judge_batch(con, batch, read.schema, info, now, orgs, result)
            result.lines += batch.height
            if progress:
                progress(name, batch.height)
    except UnreadableFile as exc:
        con.execute(_PENDING_SQL)
        result = FileResult(name, info.content_hash, fmt, status="unreadable")
        result.reasons[exc.reason] = 1
        orgs, judged = {}, False
        con.execute(
            "insert into pending_quarantine values (?, ?, 0, ?, ?, NULL, NULL, NULL, ?)",
            [info.content_hash, name, exc.reason, exc.detail, now],
        )
    return result, orgs, judged


def _ingest_read(
    con: duckdb.DuckDBPyConnection, read: _Read, *, now: datetime, progress: Progress | None
) -> FileResult:
    """Judge one file, then store its events, quarantine and ledger row in one transaction."""
    info = read.info
    con.execute(_PENDING_SQL)
    try:
        result, orgs, last_batch = _judge_file(con, read, now=now, progress=progress)
        con.execute("begin transaction")
        try:
            con.execute("insert into raw.events select * from pending_events")
            if last_batch:
                _append_accepted(con, "raw.events", info, now)
            con.execute("insert into raw.quarantine select * from pending_quarantine")
            _write_ledger(con, info, result, orgs, now)
            con.execute("commit")
        except BaseException:
            con.execute("rollback")
            raise
    finally:
        con.execute("drop table if exists pending_events; drop table if exists pending_quarantine")
        drop_stage(con, read.schema)
    return result


def ingest_file(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    *,
    now: datetime,
    progress: Progress | None = None,
    inbox: Path | None = None,
) -> FileResult:
    """Ingest one file atomically; an already-ingested content hash is a no-op. `inbox`: the folder
    the file's name in the ledger is relative to (else its base name)."""
    info = _inbox_file(path, inbox_name(path, inbox))
    if _is_ingested(con, info):
        return _skipped(info)
    return _ingest_read(con, _read(info, con, stage_schema(con), now), now=now, progress=progress)


def ingest_paths(
    con: duckdb.DuckDBPyConnection,
    paths: Iterable[Path],
    *,
    now: datetime,
    progress: Progress | None = None,
    inbox: Path | None = None,
) -> IngestReport:
    """Ingest files in the given order (the order only matters for conflicting duplicates). Each file
    is named by its path below `inbox` (else its base name); a path that is not a regular file (a
    link, a pipe) or is gone is not read and is listed in the report's `passed_over`.

    Two lanes share the work (`lanes.run_lanes`): a file is prepared (`_read`) into a stage of its own,
    then stored (`_ingest_read`) in file order. Files already in the ledger are never read.
    """
    ensure_raw_schema(con)
    paths = list(paths)
    names = [inbox_name(path, inbox) for path in paths]
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="ingest-hash") as hashing:
        found = list(hashing.map(_inbox_file_or_why, paths, names))  # sha256 lets go of the GIL
    infos = [info for info in found if isinstance(info, InboxFile)]
    passed_over = [(name, why) for name, why in zip(names, found, strict=True) if isinstance(why, str)]
    done = {info.content_hash for info in infos if _is_ingested(con, info)}
    new: list[InboxFile] = []
    for info in infos:
        if info.content_hash not in done:
            done.add(info.content_hash)  # a second copy in this list is skipped like a re-drop
            new.append(info)

    def prepare(info: InboxFile, lane: duckdb.DuckDBPyConnection, n: int) -> _Read:
        return _read(info, lane, stage_schema(lane, n), now)

    def store(lane: duckdb.DuckDBPyConnection, read: _Read, info: InboxFile) -> FileResult:
        if read.info.content_hash != info.content_hash and _is_ingested(lane, read.info):
            drop_stage(lane, read.schema)
            return _skipped(read.info)  # rewritten since hashed into a copy already stored
        return _ingest_read(lane, read, now=now, progress=progress)

    def discard(con: duckdb.DuckDBPyConnection, n: int) -> None:
        drop_stage(con, f"{STAGE_DATABASE}.s{n}")

    results: dict[int, FileResult] = {}
    if new:
        stage_schema(con)  # the stage database, attached before the lanes use it
        load_validators()  # pandera's lazy imports on this thread, not in a lane
        results = run_lanes(con, new, LaneWork(prepare, store, discard))
    stored = {info.content_hash: results[n] for n, info in enumerate(new)}
    report = IngestReport(passed_over=passed_over)
    for info in infos:
        result = stored.pop(info.content_hash, None)
        report.files.append(result if result is not None else _skipped(info))
    return report
