"""Small helpers to write contract events in every format for tests."""

from __future__ import annotations

import csv
import gzip
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from dagster_project.contract.events import ENVELOPE_FIELDS


def event(event_id: str = "e1", **overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "event_id": event_id,
        "org_id": "acme",
        "occurred_at": "2026-10-05T09:14:03.120000-05:00",
        "event_name": "signal.created",
        "entity_type": "signal",
        "entity_id": "sig-1",
        "actor": "ann@acme.test",
        "payload": {"source_type": "email", "urgency": 0.5},
    }
    base.update(overrides)
    return base


def write_jsonl(path: Path, records: list[Any], *, gz: bool = False) -> Path:
    lines = b"".join((r if isinstance(r, bytes) else orjson.dumps(r)) + b"\n" for r in records)
    path.write_bytes(gzip.compress(lines, mtime=0) if gz else lines)
    return path


def tabular_row(record: dict[str, Any]) -> dict[str, str | None]:
    """A record as CSV and Parquet hold it: every envelope field as text (payload as JSON), or None."""
    row: dict[str, str | None] = {}
    for name in ENVELOPE_FIELDS:
        value = record.get(name)
        if name == "payload" and value is not None and not isinstance(value, str):
            value = orjson.dumps(value).decode()
        row[name] = None if value is None else str(value)
    return row


def write_csv(path: Path, records: list[dict[str, Any]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(ENVELOPE_FIELDS))
        writer.writeheader()
        for record in records:
            writer.writerow({k: ("" if v is None else v) for k, v in tabular_row(record).items()})
    return path


def write_parquet(path: Path, records: list[dict[str, Any]]) -> Path:
    rows = [tabular_row(r) for r in records]
    table = pa.table({name: pa.array([r[name] for r in rows], pa.string()) for name in ENVELOPE_FIELDS})
    pq.write_table(table, path)
    return path
