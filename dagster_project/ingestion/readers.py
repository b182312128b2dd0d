"""Turn an inbox file of any contract format into uniform record batches (line number + record text).

JSON Lines records keep their text. CSV and Parquet rows become a JSON object of their string columns, so
one SQL validator serves every format; `tabular` marks them (their `payload` is a JSON *string*).
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from dagster_project.contract import ENVELOPE_FIELDS

BATCH_RECORDS = 200_000
# A file modified more recently than this is probably still being written.
SETTLE_SECONDS = 2.0

FORMATS = {".jsonl": "jsonl", ".jsonl.gz": "jsonl.gz", ".csv": "csv", ".parquet": "parquet"}


class UnreadableFile(Exception):
    """The whole file cannot be read; it is quarantined as one record (line 0)."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class InboxFile:
    path: Path
    format: str
    content_hash: str
    size: int


@dataclass
class RecordBatch:
    """Records ready for validation: `line` (1-based record number), `raw` text, decode problems."""

    frame: pl.DataFrame  # columns: line i64, raw str, bad_encoding bool
    tabular: bool


def file_format(path: Path) -> str | None:
    name = path.name.lower()
    for suffix in sorted(FORMATS, key=len, reverse=True):
        if name.endswith(suffix):
            return FORMATS[suffix]
    return None


def content_hash(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def list_inbox(
    inbox: Path, *, now: float | None = None, settle_seconds: float = SETTLE_SECONDS
) -> list[Path]:
    """Files ready to ingest, in a stable order (name). Dotfiles, *.tmp and still-growing files wait."""
    if not inbox.exists():
        return []
    now = time.time() if now is None else now
    ready = []
    for path in sorted(inbox.rglob("*")):
        if not path.is_file() or any(part.startswith(".") for part in path.relative_to(inbox).parts):
            continue
        if path.name.endswith(".tmp") or file_format(path) is None:
            continue
        if now - path.stat().st_mtime < settle_seconds:
            continue
        ready.append(path)
    return ready


def _decode_lines(lines: list[bytes]) -> tuple[list[str], list[bool]]:
    try:
        text = b"".join(lines).decode("utf-8")
    except UnicodeDecodeError:
        texts, bad = [], []
        for raw in lines:
            try:
                texts.append(raw.decode("utf-8"))
                bad.append(False)
            except UnicodeDecodeError:
                texts.append(raw.decode("utf-8", errors="replace"))
                bad.append(True)
        return texts, bad
    texts = text.split("\n")
    if texts and texts[-1] == "":
        texts.pop()
    return texts, [False] * len(texts)


def _jsonl_batches(path: Path, compressed: bool) -> Iterator[RecordBatch]:
    opener = gzip.open if compressed else open
    line_no = 0
    try:
        with opener(path, "rb") as handle:
            while True:
                chunk = handle.readlines(64 << 20)
                if not chunk:
                    break
                texts, bad = _decode_lines(chunk)
                numbers, records, flags = [], [], []
                for text, is_bad in zip(texts, bad, strict=True):
                    stripped = text.strip()
                    if not stripped:
                        continue  # empty lines are not records
                    line_no += 1
                    numbers.append(line_no)
                    records.append(stripped)
                    flags.append(is_bad)
                for start in range(0, len(records), BATCH_RECORDS):
                    end = start + BATCH_RECORDS
                    yield RecordBatch(
                        pl.DataFrame(
                            {
                                "line": numbers[start:end],
                                "raw": records[start:end],
                                "bad_encoding": flags[start:end],
                            },
                            schema={"line": pl.Int64, "raw": pl.String, "bad_encoding": pl.Boolean},
                        ),
                        tabular=False,
                    )
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise UnreadableFile("unreadable_file", f"cannot read {path.name}: {exc}") from exc


def _tabular_frame(columns: dict[str, list[str | None]], first_line: int) -> RecordBatch:
    frame = pl.DataFrame(columns, schema={name: pl.String for name in columns})
    count = frame.height
    raw = frame.select(pl.struct(list(columns)).struct.json_encode().alias("raw"))["raw"]
    return RecordBatch(
        pl.DataFrame(
            {
                "line": pl.int_range(first_line, first_line + count, eager=True),
                "raw": raw,
                "bad_encoding": pl.repeat(False, count, eager=True),
            }
        ),
        tabular=True,
    )


def _check_header(header: list[str], path: Path) -> None:
    missing = [name for name in ENVELOPE_FIELDS if name not in header]
    if missing:
        raise UnreadableFile("bad_header", f"{path.name}: header lacks columns {', '.join(missing)}")


def _csv_batches(path: Path) -> Iterator[RecordBatch]:
    data = path.read_bytes()
    try:
        frame = pl.read_csv(io.BytesIO(data), infer_schema=False, missing_utf8_is_empty_string=False)
    except Exception:  # ragged rows, bad quoting or bad bytes: fall back to the row-by-row reader
        yield from _csv_batches_slow(data, path)
        return
    if frame.width == 0:
        raise UnreadableFile("bad_header", f"{path.name}: empty file, no header row")
    _check_header(frame.columns, path)
    frame = frame.select(ENVELOPE_FIELDS)
    for start in range(0, frame.height, BATCH_RECORDS):
        part = frame.slice(start, BATCH_RECORDS)
        columns = {name: part[name].to_list() for name in ENVELOPE_FIELDS}
        yield _tabular_frame(columns, start + 1)


def _csv_batches_slow(data: bytes, path: Path) -> Iterator[RecordBatch]:
    """Row by row, so one ragged or mis-encoded row is quarantined instead of failing the file."""
    text = data.decode("utf-8", errors="surrogateescape")
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise UnreadableFile("bad_header", f"{path.name}: empty file, no header row") from None
    except csv.Error as exc:
        raise UnreadableFile("unreadable_file", f"{path.name}: {exc}") from exc
    _check_header(header, path)
    index = {name: header.index(name) for name in ENVELOPE_FIELDS}
    lines, raws, flags = [], [], []
    line_no = 0
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            line_no += 1
            lines.append(line_no)
            raws.append(f'{{"csv_error": {orjson.dumps(str(exc)).decode()}}}')
            flags.append(False)
            continue
        line_no += 1
        try:
            "".join(row).encode("utf-8")
            bad = False
        except UnicodeEncodeError:  # undecodable bytes were kept as lone surrogates
            bad = True
            row = [cell.encode("utf-8", "surrogateescape").decode("utf-8", "replace") for cell in row]
        if len(row) != len(header):
            record = {"csv_row": row}
        else:
            record = {name: (row[i] or None) for name, i in index.items()}
        lines.append(line_no)
        raws.append(orjson.dumps(record).decode())
        flags.append(bad)
    for start in range(0, len(lines), BATCH_RECORDS):
        end = start + BATCH_RECORDS
        yield RecordBatch(
            pl.DataFrame(
                {"line": lines[start:end], "raw": raws[start:end], "bad_encoding": flags[start:end]},
                schema={"line": pl.Int64, "raw": pl.String, "bad_encoding": pl.Boolean},
            ),
            tabular=True,
        )


def _parquet_batches(path: Path) -> Iterator[RecordBatch]:
    try:
        parquet = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as exc:
        raise UnreadableFile("unreadable_file", f"cannot read {path.name} as Parquet: {exc}") from exc
    _check_header(parquet.schema_arrow.names, path)
    first = 1
    for batch in parquet.iter_batches(batch_size=BATCH_RECORDS, columns=list(ENVELOPE_FIELDS)):
        columns = {}
        for name in ENVELOPE_FIELDS:
            column = batch.column(name)
            if not pa.types.is_string(column.type) and not pa.types.is_large_string(column.type):
                column = column.cast(pa.string())
            columns[name] = column.to_pylist()
        yield _tabular_frame(columns, first)
        first += batch.num_rows


def read_batches(path: Path, fmt: str) -> Iterator[RecordBatch]:
    """Record batches of one file; raises UnreadableFile when nothing in it can be read."""
    if fmt == "jsonl":
        return _jsonl_batches(path, compressed=False)
    if fmt == "jsonl.gz":
        return _jsonl_batches(path, compressed=True)
    if fmt == "csv":
        return _csv_batches(path)
    if fmt == "parquet":
        return _parquet_batches(path)
    raise ValueError(f"unknown format {fmt}")
