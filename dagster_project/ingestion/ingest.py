"""Ingest inbox files into the warehouse's event log, one transaction per file.

Per file: skip it if its content hash is already in the ledger; otherwise validate every record, store
the valid new events, count identical duplicates, quarantine the rest with a reason, and write the
ledger row (lines = accepted + duplicates + quarantined) in the same transaction as the data.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import duckdb
import orjson
import polars as pl

from dagster_project.contract import Reason
from dagster_project.ingestion.readers import (
    InboxFile,
    UnreadableFile,
    content_hash,
    file_format,
    read_batches,
)
from dagster_project.ingestion.validation import validate_batch
from dagster_project.warehouse import ensure_raw_schema

Progress = Callable[[str, int], None]

# The quick content hash: the canonical fields with the payload minified (DuckDB `json()`), UTC µs time.
_CLASSIFY_SQL = """
with v as (
    select *,
        md5(concat_ws(chr(31), event_name, entity_type, entity_id, coalesce(actor, chr(0)),
            strftime(occurred_at, '%Y-%m-%dT%H:%M:%S.%fZ'), payload)) as content_hash,
        row_number() over (partition by org_id, event_id order by line) as rn
    from valid
),
firsts as (select org_id, event_id, content_hash as first_hash, line as first_line from v where rn = 1)
select v.*, e.content_hash as stored_hash, f.first_hash, f.first_line
from v
left join raw.events e using (org_id, event_id)
left join firsts f using (org_id, event_id)
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


def _resolve_collisions(con: duckdb.DuckDBPyConnection, classified: pl.DataFrame) -> pl.DataFrame:
    """Rows whose quick hash differs from the first one stored/seen: same content after all, or a conflict."""
    suspects = classified.filter(pl.col("verdict") == "suspect")
    if suspects.is_empty():
        return classified
    stored_keys = suspects.filter(pl.col("stored_hash").is_not_null()).select("org_id", "event_id")
    stored = {}
    if not stored_keys.is_empty():
        con.register("stored_keys", stored_keys)
        rows = con.execute(
            "select e.org_id, e.event_id, e.event_name, e.entity_type, e.entity_id, e.actor, e.occurred_at, "
            "e.payload::varchar as payload from raw.events e join stored_keys using (org_id, event_id)"
        ).pl()
        con.unregister("stored_keys")
        stored = {(r["org_id"], r["event_id"]): _canonical(r) for r in rows.iter_rows(named=True)}
    firsts = {
        (r["org_id"], r["event_id"]): _canonical(r)
        for r in classified.filter(pl.col("rn") == 1).iter_rows(named=True)
    }
    verdicts = {}
    for row in suspects.iter_rows(named=True):
        key = (row["org_id"], row["event_id"])
        reference = stored.get(key, firsts.get(key))
        verdicts[row["line"]] = "duplicate" if reference == _canonical(row) else "conflict"
    fixed = pl.DataFrame(
        {"line": list(verdicts), "resolved": list(verdicts.values())},
        schema={"line": pl.Int64, "resolved": pl.String},
    )
    return (
        classified.join(fixed, on="line", how="left")
        .with_columns(pl.coalesce("resolved", "verdict").alias("verdict"))
        .drop("resolved")
    )


def _classify(con: duckdb.DuckDBPyConnection, valid: pl.DataFrame) -> pl.DataFrame:
    con.register("valid", valid)
    try:
        classified = con.execute(_CLASSIFY_SQL).pl()
    finally:
        con.unregister("valid")
    reference = pl.coalesce("stored_hash", pl.when(pl.col("rn") > 1).then(pl.col("first_hash")))
    classified = classified.with_columns(
        pl.when(reference.is_null())
        .then(pl.lit("accept"))
        .when(reference == pl.col("content_hash"))
        .then(pl.lit("duplicate"))
        .otherwise(pl.lit("suspect"))
        .alias("verdict")
    )
    return _resolve_collisions(con, classified)


def _store_batch(
    con: duckdb.DuckDBPyConnection,
    batch_valid: pl.DataFrame,
    batch_invalid: pl.DataFrame,
    info: InboxFile,
    now: datetime,
    orgs: dict[str | None, _OrgCounts],
    result: FileResult,
) -> None:
    classified = _classify(con, batch_valid) if not batch_valid.is_empty() else None
    conflicts = pl.DataFrame()
    if classified is not None:
        accepted = classified.filter(pl.col("verdict") == "accept")
        con.register("accepted", accepted)
        con.execute(
            """insert into raw.events
               select org_id, event_id, occurred_at, event_name, entity_type, entity_id, actor, payload::json,
                      content_hash, $now, $file, line
               from accepted""",
            {"now": now, "file": info.path.name},
        )
        con.unregister("accepted")
        conflicts = classified.filter(pl.col("verdict") == "conflict")
        for verdict, column in (("accept", "accepted"), ("duplicate", "duplicates")):
            counts = classified.filter(pl.col("verdict") == verdict).group_by("org_id").len()
            for org_id, n in counts.iter_rows():
                org = orgs.setdefault(org_id, _OrgCounts())
                setattr(org, column, getattr(org, column) + n)
                org.lines += n
                setattr(result, column, getattr(result, column) + n)
    if not conflicts.is_empty():
        conflict_rows = conflicts.join(batch_raw_lines(batch_valid), on="line").select(
            "line",
            "raw",
            pl.lit(Reason.CONFLICTING_DUPLICATE).alias("reason"),
            pl.format(
                "event_id already accepted with different content (first seen {})",
                pl.when(pl.col("stored_hash").is_not_null())
                .then(pl.lit("in an earlier file"))
                .otherwise(pl.format("at line {}", pl.col("first_line"))),
            ).alias("detail"),
            "org_id",
            "event_id",
        )
        batch_invalid = pl.concat([batch_invalid, conflict_rows], how="vertical_relaxed")
    if not batch_invalid.is_empty():
        con.register("invalid", batch_invalid)
        con.execute(
            """insert into raw.quarantine
               select $hash, $file, line, reason, detail, raw, org_id, event_id, $now from invalid""",
            {"hash": info.content_hash, "file": info.path.name, "now": now},
        )
        con.unregister("invalid")
        for org_id, n in batch_invalid.group_by("org_id").len().iter_rows():
            org = orgs.setdefault(org_id, _OrgCounts())
            org.quarantined += n
            org.lines += n
        result.quarantined += batch_invalid.height
        result.reasons.update(dict(batch_invalid.group_by("reason").len().iter_rows()))


def batch_raw_lines(valid: pl.DataFrame) -> pl.DataFrame:
    """The raw text of valid rows, rebuilt for quarantine when they turn out to conflict."""
    return valid.select(
        "line",
        pl.struct(
            "event_id",
            "org_id",
            pl.col("occurred_at").dt.to_string("%Y-%m-%dT%H:%M:%S%.6fZ"),
            "event_name",
            "entity_type",
            "entity_id",
            "actor",
            pl.col("payload"),
        )
        .struct.json_encode()
        .alias("raw"),
    )


def _write_ledger(
    con: duckdb.DuckDBPyConnection, info: InboxFile, result: FileResult, orgs: dict, now: datetime
) -> None:
    known = [o for o in orgs if o is not None]
    single_org = known[0] if len(known) == 1 else None
    con.execute(
        "insert into raw.ingest_ledger values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            info.content_hash,
            info.path.name,
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
                info.path.name,
                org_id,
                counts.lines,
                counts.accepted,
                counts.duplicates,
                counts.quarantined,
            ],
        )


def ingest_file(
    con: duckdb.DuckDBPyConnection, path: Path, *, now: datetime, progress: Progress | None = None
) -> FileResult:
    """Ingest one file atomically; an already-ingested content hash is a no-op."""
    fmt = file_format(path)
    if fmt is None:
        raise ValueError(f"{path.name}: not a contract format (.jsonl, .jsonl.gz, .csv, .parquet)")
    info = InboxFile(path=path, format=fmt, content_hash=content_hash(path), size=path.stat().st_size)
    seen = con.execute(
        "select 1 from raw.ingest_ledger where content_hash = ?", [info.content_hash]
    ).fetchone()
    if seen:
        return FileResult(path.name, info.content_hash, fmt, status="skipped")
    con.execute("begin transaction")
    try:
        result = FileResult(path.name, info.content_hash, fmt, status="ok")
        orgs: dict[str | None, _OrgCounts] = {}
        try:
            for batch in read_batches(path, fmt):
                valid, invalid = validate_batch(con, batch.frame, tabular=batch.tabular, now=now)
                _store_batch(con, valid, invalid, info, now, orgs, result)
                result.lines += batch.frame.height
                if progress:
                    progress(path.name, batch.frame.height)
        except UnreadableFile as exc:
            con.execute("rollback")
            con.execute("begin transaction")
            result = FileResult(path.name, info.content_hash, fmt, status="unreadable")
            result.reasons[exc.reason] = 1
            orgs = {}
            con.execute(
                "insert into raw.quarantine values (?, ?, 0, ?, ?, NULL, NULL, NULL, ?)",
                [info.content_hash, path.name, exc.reason, exc.detail, now],
            )
        _write_ledger(con, info, result, orgs, now)
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    return result


def ingest_paths(
    con: duckdb.DuckDBPyConnection, paths: Iterable[Path], *, now: datetime, progress: Progress | None = None
) -> IngestReport:
    """Ingest files in the given order (the order only matters for conflicting duplicates)."""
    ensure_raw_schema(con)
    report = IngestReport()
    for path in paths:
        report.files.append(ingest_file(con, path, now=now, progress=progress))
    return report
