"""File formats: one streaming writer per inbox file, deterministic bytes.

Each writer buffers a bounded chunk (JSONL and CSV in one reused 1 MiB write buffer, Parquet rows
converted to Arrow every 5k rows and written per row group of 25k rows) so memory stays flat however
many events are written. Files are written as hidden `.<name>.tmp` and renamed on close, so an ingest
polling the folder never sees a half-written file. Determinism: gzip
with `mtime=0` and a fixed name (level 3: twice as fast as 6 for 20% more bytes), Parquet via
`ParquetWriter` with fixed options (its footer carries no time), CSV and JSONL as plain text.

Valid events are written to CSV by hand, not with the `csv` module (twice as fast): their envelope
fields are ids, names, RFC 3339 times and emails that never contain `,`, `"` or line breaks (the unit
tests read every row back with `csv`), and `payload` is always quoted with `"` doubled. Bad records,
which may contain anything, go through `csv.writer`.
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import io
import os
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from dagster_project.contract.events import ENVELOPE_FIELDS

from .telling import Event

FORMATS = ("jsonl", "jsonl.gz", "csv", "parquet")
PARQUET_SCHEMA = pa.schema([pa.field(name, pa.string()) for name in ENVELOPE_FIELDS])
_NL = orjson.OPT_APPEND_NEWLINE
_BUFFER = 1 << 20
_Q, _QQ = '"', '""'
_ARROW_CHUNK = 5_000  # Parquet rows held as Python objects before conversion to Arrow
_PARQUET_ROW_GROUP = 25_000

# A bad record: a dict (envelope fields, possibly odd types or missing keys; in CSV/Parquet `payload` may
# be a raw string); for JSON Lines only, the raw bytes of the line; for CSV only, a raw row (list).
BadRecord = dict[str, Any] | bytes | list[Any]


class Writer:
    """Base: temp-file lifecycle and the record count."""

    fmt = ""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.tmp = path.with_name(f".{path.name}.tmp")
        self.lines = 0

    def write_event(self, ev: Event) -> None:
        self.write_events([ev])

    def write_events(self, evs: list[Event]) -> None:
        raise NotImplementedError

    def write_bad(self, bad: BadRecord) -> None:
        raise NotImplementedError

    def _finish(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        self._finish()
        os.replace(self.tmp, self.path)

    def abort(self) -> None:
        """Drop the half-written temp file (after an error); never raises."""
        with contextlib.suppress(Exception):
            self._finish()
        with contextlib.suppress(OSError):
            self.tmp.unlink()


class JsonlWriter(Writer):
    def __init__(self, path: Path, gz: bool = False) -> None:
        super().__init__(path)
        self.fmt = "jsonl.gz" if gz else "jsonl"
        self._raw = open(self.tmp, "wb")  # noqa: SIM115 - closed in _finish
        self._gz: gzip.GzipFile | None = None
        sink: Any = self._raw
        if gz:
            name = path.name[: -len(".gz")]
            self._gz = sink = gzip.GzipFile(
                filename=name, mode="wb", fileobj=self._raw, mtime=0, compresslevel=3
            )
        # One reused 1 MiB buffer: writing line by line into it beats joining chunks (fresh memory is slow).
        self._out = io.BufferedWriter(sink, buffer_size=_BUFFER)

    def write_events(self, evs: list[Event]) -> None:
        dumps, write = orjson.dumps, self._out.write
        for eid, org, ts, name, etype, ent, actor, payload in evs:
            write(
                dumps(
                    {
                        "event_id": eid,
                        "org_id": org,
                        "occurred_at": ts,
                        "event_name": name,
                        "entity_type": etype,
                        "entity_id": ent,
                        "actor": actor,
                        "payload": payload,
                    },
                    option=_NL,
                )
            )
        self.lines += len(evs)

    def write_bad(self, bad: BadRecord) -> None:
        assert not isinstance(bad, list), "raw rows are CSV only"
        self._out.write(bad + b"\n" if isinstance(bad, bytes) else orjson.dumps(bad, option=_NL))
        self.lines += 1

    def _finish(self) -> None:
        self._out.close()  # flushes into the gzip stream and closes it (the trailer), not the file
        self._raw.close()


def _cell(value: Any) -> str | None:
    """A bad record's field as a CSV/Parquet string (payload objects become JSON text)."""
    if value is None or isinstance(value, str):
        return value
    return orjson.dumps(value).decode()


class CsvWriter(Writer):
    fmt = "csv"

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self._out = open(self.tmp, "wb", buffering=_BUFFER)  # noqa: SIM115 - closed in _finish
        self._out.write((",".join(ENVELOPE_FIELDS) + "\n").encode())
        self._bad_text = io.StringIO()
        self._bad_writer = csv.writer(self._bad_text, lineterminator="\n")

    def write_events(self, evs: list[Event]) -> None:
        dumps, write = orjson.dumps, self._out.write
        for eid, org, ts, name, etype, ent, actor, payload in evs:
            p = dumps(payload).decode().replace(_Q, _QQ)
            write(f'{eid},{org},{ts},{name},{etype},{ent},{actor or ""},"{p}"\n'.encode())
        self.lines += len(evs)

    def write_bad(self, bad: BadRecord) -> None:
        assert not isinstance(bad, bytes), "raw bytes are JSON Lines only"
        if isinstance(bad, list):
            self._bad_writer.writerow([_cell(v) or "" for v in bad])
        else:
            self._bad_writer.writerow([_cell(bad.get(f)) or "" for f in ENVELOPE_FIELDS])
        self._out.write(self._bad_text.getvalue().encode())
        self._bad_text.seek(0)
        self._bad_text.truncate()
        self.lines += 1

    def _finish(self) -> None:
        self._out.close()


class ParquetWriter(Writer):
    fmt = "parquet"

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self._w = pq.ParquetWriter(self.tmp, PARQUET_SCHEMA, compression="zstd")
        self._rows: list[tuple[str | None, ...]] = []  # events and bad records, in order
        self._batches: list[pa.RecordBatch] = []
        self._batched = 0

    def write_events(self, evs: list[Event]) -> None:
        dumps = orjson.dumps
        self._rows.extend(
            [
                (eid, org, ts, name, etype, ent, actor, dumps(payload).decode())
                for eid, org, ts, name, etype, ent, actor, payload in evs
            ]
        )
        self.lines += len(evs)
        if len(self._rows) >= _ARROW_CHUNK:
            self._to_arrow()

    def write_bad(self, bad: BadRecord) -> None:
        assert isinstance(bad, dict), "raw bytes and rows are JSON Lines / CSV only"
        self._rows.append(tuple(_cell(bad.get(f)) for f in ENVELOPE_FIELDS))
        self.lines += 1

    def _to_arrow(self) -> None:
        """Move the buffered rows into Arrow memory; write a row group once enough have gathered.

        Conversion works on a few thousand rows at a time: per-call and per-chunk costs in pyarrow
        dominate small batches, and callers hand over as few as a handful of rows at once.
        """
        if self._rows:
            arrays = [pa.array(col, type=pa.string()) for col in zip(*self._rows, strict=True)]
            self._batches.append(pa.RecordBatch.from_arrays(arrays, schema=PARQUET_SCHEMA))
            self._batched += len(self._rows)
            self._rows.clear()
        if self._batched >= _PARQUET_ROW_GROUP:
            self._write_row_group()

    def _write_row_group(self) -> None:
        if self._batches:
            table = pa.Table.from_batches(self._batches, schema=PARQUET_SCHEMA)
            self._w.write_table(table, row_group_size=max(1, table.num_rows))
            self._batches = []
            self._batched = 0

    def _finish(self) -> None:
        self._to_arrow()
        self._write_row_group()
        self._w.close()


def open_writer(path: Path, fmt: str) -> Writer:
    """A writer for `fmt` (one of FORMATS) at `path`."""
    if fmt == "jsonl":
        return JsonlWriter(path)
    if fmt == "jsonl.gz":
        return JsonlWriter(path, gz=True)
    if fmt == "csv":
        return CsvWriter(path)
    if fmt == "parquet":
        return ParquetWriter(path)
    raise ValueError(f"unknown format {fmt!r}")
