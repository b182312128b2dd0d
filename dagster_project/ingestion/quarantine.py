"""Export quarantined records from the snapshot as a JSON Lines file to fix and re-drop into the inbox."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import duckdb
import jiter
import orjson

from dagster_project.serving import reader
from dagster_project.serving.reader import Scope


def _loads(text: str) -> object:
    """The JSON value of `text`, refusing (ValueError) a text with a key twice: parsing would keep one
    value silently, and the record is exported so that its author can see both and choose."""
    jiter.from_json(text.encode("utf-8", errors="replace"), catch_duplicate_keys=True, cache_mode="none")
    return orjson.loads(text)


def repairable_record(raw: str) -> bytes:
    """The record as a JSON Lines line: CSV/Parquet rows (payload a JSON string) get a payload object."""
    try:
        record = _loads(raw)
    except ValueError:  # orjson's JSONDecodeError is a ValueError too
        return raw.encode("utf-8", errors="replace")
    if isinstance(record, dict) and isinstance(record.get("payload"), str):
        try:
            parsed = _loads(record["payload"])
            if isinstance(parsed, dict):
                record["payload"] = parsed
        except ValueError:
            pass
    return orjson.dumps(record)


REASONS_COLUMNS = ("out_line", "file", "line", "reason", "detail")


def reasons_path(out: Path) -> Path:
    """The side file beside an export: why each exported line was quarantined and where it came from.
    Tab-separated, a kind the ingest does not read, so dropping the folder into the inbox is harmless."""
    return out.with_name(f"{out.name.removesuffix('.jsonl')}.reasons.tsv")


def export_quarantine(
    serving: Path, out: Path, *, scope: Scope, reason: str | None = None
) -> tuple[int, int]:
    """Write every quarantined record the scope sees (optionally of one reason) to `out`, and to
    `reasons_path(out)` its reason, file and line: beside the record, not in it, so the fixed line is
    the original record. Returns (written, whole-file entries).

    The scope is required: an org's scope reads only rows carrying its org id (a line or file whose org
    could not be read has none and is left to the system scope, i.e. every org)."""
    with reader.connect(serving, scope=scope) as con:
        rows = con.execute(
            "select file, line, reason, detail, raw from marts.quarantine "
            "where ($reason is null or reason = $reason) order by file, line",
            {"reason": reason},
        ).fetchall()
    out.parent.mkdir(parents=True, exist_ok=True)
    written = skipped = 0
    with out.open("wb") as handle, reasons_path(out).open("w", newline="", encoding="utf-8") as side:
        reasons = csv.writer(side, delimiter="\t", lineterminator="\n")
        reasons.writerow(REASONS_COLUMNS)
        for file, line, why, detail, raw in rows:
            if line == 0 or raw is None:
                skipped += 1
                print(f"{file}: whole file quarantined ({why}: {detail})", file=sys.stderr)
                reasons.writerow(("", file, line, why, detail or ""))
                continue
            handle.write(repairable_record(raw) + b"\n")
            written += 1
            reasons.writerow((written, file, line, why, detail or ""))
    return written, skipped


# How many quarantined lines a run names in its log and summary; the rest are a page or an export away.
NAMED_LINES = 10


def first_quarantined(
    con: duckdb.DuckDBPyConnection, content_hashes: list[str], limit: int = NAMED_LINES
) -> list[dict[str, object]]:
    """The first quarantined lines of these files (by file, then line) as file, line and reason only:
    they go to logs and the console, where neither a record's text nor its detail (which may quote it)
    belongs, since a later redaction must be able to erase every copy of that text."""
    if not content_hashes:
        return []
    rows = con.execute(
        "select file, line, reason from raw.quarantine where content_hash in (select unnest(?)) "
        "order by file, line limit ?",
        [content_hashes, limit],
    ).fetchall()
    return [{"file": file, "line": line, "reason": reason} for file, line, reason in rows]


def quarantined_line(q: dict[str, object]) -> str:
    """One of `first_quarantined`'s lines in words: `a.jsonl line 3: bad_json`, or `b.csv (the whole
    file): unreadable_file` for a file quarantined whole (its line 0)."""
    where = "(the whole file)" if q["line"] == 0 else f"line {q['line']}"
    return f"{q['file']} {where}: {q['reason']}"
