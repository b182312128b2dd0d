"""Record batches, what every reader turns a file into: a JSON Lines file (`JsonFile`), CSV rows
(`Table`) or a Parquet row range (`ParquetRows`); each record numbered from 1 and its raw text on demand.
Also the strict-JSON test the batches share (DuckDB's parser is lenient) and how a file is cut into
batches.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from dagster_project.contract.events import ENVELOPE_FIELDS
from dagster_project.ingestion.files import UnreadableFile

BATCH_RECORDS = 250_000  # a tail under a quarter of this joins the batch before it (see batch_bounds)
LINES_SCHEMA = {"line": pl.Int64, "raw": pl.String, "bad_encoding": pl.Boolean, "lenient_only": pl.Boolean}
# DuckDB's JSON parser also accepts trailing commas and NaN/Infinity, which JSON does not. Records that
# could hold them (a cheap byte search) are re-checked with Python's strict parser.
LENIENT_JSON = re.compile(rb",\s*[}\]]|NaN|Infinity")
LENIENT_JSON_TEXT = r",\s*[}\]]|NaN|Infinity"


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def is_strict_json(text: str | bytes) -> bool:
    """True when `text` is JSON by the RFC: no trailing commas, no NaN/Infinity."""
    try:
        json.loads(text, parse_constant=_reject_constant)
    except ValueError:
        return False
    return True


def lenient_only(text: str | bytes) -> bool:
    """DuckDB may parse it, but it is not strict JSON."""
    return LENIENT_JSON.search(
        text if isinstance(text, bytes) else text.encode()
    ) is not None and not is_strict_json(text)


def decode_record(line: bytes) -> tuple[str, bool]:
    """A record's text (stripped) and whether it was invalid UTF-8 (then decoded with replacements)."""
    try:
        return line.decode("utf-8").strip(), False
    except UnicodeDecodeError:
        return line.decode("utf-8", errors="replace").strip(), True


@dataclass
class JsonFile:
    """A JSON Lines file, or a batch of a large one: DuckDB reads `path` (the inbox file, or a temporary
    file of the batch's records); `records` are its non-blank lines (undecoded), the first of them the
    file's record number `first`. Record numbers (`lines`, `lenient_records`) are the file's."""

    path: Path
    compressed: bool
    records: list[bytes]
    lenient_candidates: list[
        int
    ]  # numbers within the batch (from 1) whose bytes might hold a trailing comma or NaN
    duckdb_refused: bool = False  # DuckDB's reader failed on the file: parse every record from `records`
    first: int = 1
    source: Path | None = None  # the inbox file, when `path` holds one of its batches

    @property
    def height(self) -> int:
        return len(self.records)

    @property
    def name(self) -> str:
        """The inbox file's name, for messages."""
        return (self.source or self.path).name

    def record(self, number: int) -> bytes:
        """The record with the file's number `number`."""
        return self.records[number - self.first]

    def lines(self, numbers: Iterable[int]) -> pl.DataFrame:
        """(line, raw, bad_encoding, lenient_only) for the given record numbers, decoded like the contract says."""
        rows = []
        for n in numbers:
            raw, bad = decode_record(self.record(n))
            rows.append((n, raw, bad, not bad and lenient_only(raw)))
        return pl.DataFrame(rows, schema=LINES_SCHEMA, orient="row")

    def lenient_records(self) -> list[int]:
        """Record numbers DuckDB would parse although they are not strict JSON (trailing comma, NaN)."""
        return [
            n + self.first - 1
            for n in self.lenient_candidates
            if LENIENT_JSON.search(self.records[n - 1])
            and not is_strict_json(self.records[n - 1].decode("utf-8", errors="replace"))
        ]

    def raw_text(self, numbers: Iterable[int]) -> pl.DataFrame:
        return self.lines(numbers).select("line", "raw")


@dataclass
class Table:
    """CSV/Parquet rows: `line`, the envelope columns as strings, `bad_encoding`, `csv_fields` (ragged rows)."""

    frame: pl.DataFrame
    raw: pl.Series | None = None  # per row: its text when it is not just its columns (ragged CSV), else null

    @property
    def height(self) -> int:
        return self.frame.height

    def raw_text(self, numbers: Iterable[int]) -> pl.DataFrame:
        """A row's raw text: its columns as a JSON object (only computed for rows that need it)."""
        wanted = pl.Series("line", list(numbers), dtype=pl.Int64)
        frame = self.frame.with_columns(
            pl.lit(None, pl.String).alias("_raw") if self.raw is None else self.raw.alias("_raw")
        )
        rows = frame.filter(pl.col("line").is_in(wanted))
        text = pl.coalesce("_raw", pl.struct(list(ENVELOPE_FIELDS)).struct.json_encode())
        return rows.select("line", text.alias("raw"))


@dataclass
class ParquetRows:
    """Rows [start, start + count) of a Parquet file: DuckDB reads them itself (`read_parquet`, its
    `file_row_number` filter skips the other row groups), so no Python frame is built."""

    path: Path
    start: int
    count: int
    last: bool  # the file's last batch: it also takes any row past the footer's count

    @property
    def height(self) -> int:
        return self.count


RecordBatch = JsonFile | Table | ParquetRows


def check_header(header: list[str], path: Path) -> None:
    missing = [name for name in ENVELOPE_FIELDS if name not in header]
    if missing:
        raise UnreadableFile("bad_header", f"{path.name}: header lacks columns {', '.join(missing)}")


def batch_bounds(total: int) -> list[tuple[int, int]]:
    """(start, end) of each batch of `total` records: BATCH_RECORDS each, a short tail merged.

    Every batch costs a fixed set of statements and a scan of the log's keys, so a file of 253k
    records is one batch, not 250k + 3k.
    """
    bounds, start = [], 0
    while start < total:
        end = start + BATCH_RECORDS
        if total - end < BATCH_RECORDS // 4:
            end = total
        bounds.append((start, end))
        start = end
    return bounds
