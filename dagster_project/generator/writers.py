"""File formats: one streaming writer per inbox file, deterministic bytes.

Each writer buffers a bounded chunk (JSONL lines, CSV via the file buffer, Parquet rows per row group)
so memory stays flat however many events are written. Files are written as hidden `.<name>.tmp` and
renamed on close, so an ingest polling the folder never sees a half-written file. Determinism: gzip
with `mtime=0` and a fixed name, Parquet via `ParquetWriter` with fixed options (its footer carries no
time), CSV and JSONL as plain text.
"""

from __future__ import annotations

import csv
import gzip
import os
from pathlib import Path
from typing import IO, Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from dagster_project.contract import ENVELOPE_FIELDS

from .stories import Event

FORMATS = ("jsonl", "jsonl.gz", "csv", "parquet")
PARQUET_SCHEMA = pa.schema([pa.field(name, pa.string()) for name in ENVELOPE_FIELDS])
_NL = orjson.OPT_APPEND_NEWLINE
_JSONL_CHUNK = 4096
_PARQUET_ROW_GROUP = 25_000

# A bad record: a dict (envelope fields, possibly odd types or missing keys; in CSV/Parquet `payload` may
# be a raw string) or, for JSON Lines only, the raw bytes of the line.
BadRecord = dict[str, Any] | bytes


class Writer:
    """Base: temp-file lifecycle and the record count."""

    fmt = ""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.tmp = path.with_name(f".{path.name}.tmp")
        self.lines = 0

    def write_event(self, ev: Event) -> None:
        raise NotImplementedError

    def write_bad(self, bad: BadRecord) -> None:
        raise NotImplementedError

    def _finish(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        self._finish()
        os.replace(self.tmp, self.path)


class JsonlWriter(Writer):
    def __init__(self, path: Path, gz: bool = False) -> None:
        super().__init__(path)
        self.fmt = "jsonl.gz" if gz else "jsonl"
        self._raw = open(self.tmp, "wb")  # noqa: SIM115 - closed in _finish
        self._out: IO[bytes] = self._raw
        if gz:
            name = path.name[: -len(".gz")]
            self._out = gzip.GzipFile(filename=name, mode="wb", fileobj=self._raw, mtime=0, compresslevel=6)
        self._buf: list[bytes] = []

    def write_event(self, ev: Event) -> None:
        eid, org, ts, name, etype, ent, actor, payload = ev
        self._buf.append(
            orjson.dumps(
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
        self.lines += 1
        if len(self._buf) >= _JSONL_CHUNK:
            self._flush()

    def write_bad(self, bad: BadRecord) -> None:
        self._buf.append(bad + b"\n" if isinstance(bad, bytes) else orjson.dumps(bad, option=_NL))
        self.lines += 1

    def _flush(self) -> None:
        if self._buf:
            self._out.write(b"".join(self._buf))
            self._buf.clear()

    def _finish(self) -> None:
        self._flush()
        if self._out is not self._raw:
            self._out.close()
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
        self._f = open(self.tmp, "w", newline="", encoding="utf-8", buffering=1 << 20)  # noqa: SIM115
        self._w = csv.writer(self._f, lineterminator="\n")
        self._w.writerow(ENVELOPE_FIELDS)

    def write_event(self, ev: Event) -> None:
        eid, org, ts, name, etype, ent, actor, payload = ev
        self._w.writerow((eid, org, ts, name, etype, ent, actor or "", orjson.dumps(payload).decode()))
        self.lines += 1

    def write_bad(self, bad: BadRecord) -> None:
        assert isinstance(bad, dict), "raw bytes are JSON Lines only"
        self._w.writerow([_cell(bad.get(f)) or "" for f in ENVELOPE_FIELDS])
        self.lines += 1

    def _finish(self) -> None:
        self._f.close()


class ParquetWriter(Writer):
    fmt = "parquet"

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self._w = pq.ParquetWriter(self.tmp, PARQUET_SCHEMA, compression="zstd", write_statistics=True)
        self._rows: list[tuple[str | None, ...]] = []

    def write_event(self, ev: Event) -> None:
        eid, org, ts, name, etype, ent, actor, payload = ev
        self._rows.append((eid, org, ts, name, etype, ent, actor, orjson.dumps(payload).decode()))
        self.lines += 1
        if len(self._rows) >= _PARQUET_ROW_GROUP:
            self._flush()

    def write_bad(self, bad: BadRecord) -> None:
        assert isinstance(bad, dict), "raw bytes are JSON Lines only"
        self._rows.append(tuple(_cell(bad.get(f)) for f in ENVELOPE_FIELDS))
        self.lines += 1

    def _flush(self) -> None:
        if not self._rows:
            return
        columns = list(zip(*self._rows, strict=True))
        arrays = [pa.array(col, type=pa.string()) for col in columns]
        self._w.write_table(pa.Table.from_arrays(arrays, schema=PARQUET_SCHEMA))
        self._rows.clear()

    def _finish(self) -> None:
        self._flush()
        if self.lines == 0:  # an empty file still carries the 8-column schema
            self._w.write_table(PARQUET_SCHEMA.empty_table())
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
