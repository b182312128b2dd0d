"""Writing an import into an inbox: deterministic files, and the gate window around imported history.

Files are `import-<vendor>-<org>-<hash>-NNNN.jsonl` (at most `PART_EVENTS` events each, in time order),
where the hash covers every event: the same export gives the same names and bytes, so importing it again
is a no-op for the ingest (a file is keyed by its content), and a newer export gets new names, the old
files staying as they are. Each file is written under a dotted temporary name and renamed when complete,
as the inbox requires. The gate window is a file of its own (`…-gate.jsonl`): `gate_mode = warn` from
the earliest imported record, back to the org's previous mode just after the latest one. A window that
a later import's window overlaps is reopened where the earlier one closed (the previous imports' gate
files in the inbox say where), so overlapping imports never judge history with gates on.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from datetime import datetime, timedelta
from pathlib import Path

import orjson

from dagster_project.contract.events import ENVELOPE_FIELDS
from dagster_project.settings import parse_timestamp

from .mapping import Event, stamp

PART_EVENTS = 250_000
GATE_SUFFIX = "-gate.jsonl"
_ONE_TICK = timedelta(microseconds=1)


def line(event: Event) -> bytes:
    return orjson.dumps(dict(zip(ENVELOPE_FIELDS, event, strict=True)), option=orjson.OPT_APPEND_NEWLINE)


def _write(path: Path, lines: Iterable[bytes | memoryview]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("wb") as handle:
        for chunk in lines:
            handle.write(chunk)
    os.replace(tmp, path)


def prior_restores(out: Path, org: str, own: str) -> list[datetime]:
    """When earlier imports' gate windows for `org` closed (their `…-gate.jsonl` files in the inbox)."""
    times: list[datetime] = []
    if not out.is_dir():
        return times
    for path in sorted(out.glob(f"import-*-{org}-*{GATE_SUFFIX}")):
        if path.name == own:
            continue
        for raw in path.read_bytes().splitlines():
            try:
                event = orjson.loads(raw)
                if event.get("org_id") == org and ":gate:restore:" in str(event.get("event_id")):
                    times.append(parse_timestamp(event["occurred_at"]))
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
                continue  # not ours to judge: the ingest quarantines what is broken
    return times


def gate_events(
    vendor: str, org: str, first: datetime, last: datetime, previous: str, reopen: Iterable[datetime]
) -> list[Event]:
    """`warn` from `first`, `previous` just after `last`, `warn` again where an earlier window inside
    this one closed (same instant, an id that sorts after the restore's, so it applies last)."""
    restore = last + _ONE_TICK

    def change(at: datetime, kind: str, value: str) -> Event:
        ts = stamp(at)
        return (
            f"import:{vendor}:gate:{kind}:{ts}:{value}",
            org,
            ts,
            "config.changed",
            "org",
            org,
            None,
            {"key": "gate_mode", "value": value},
        )

    events = [change(first, "warn", "warn"), change(restore, "restore", previous)]
    events += [change(at, "rewarn", "warn") for at in sorted(set(reopen)) if first <= at < restore]
    return sorted(events, key=lambda e: (e[2], e[0]))


def serialise(events: list[Event]) -> tuple[bytearray, list[int]]:
    """Every event as a JSON line in one buffer, and the offset where each part's lines end.

    One buffer, not a bytes object per line: each of those would keep the serialiser's spare capacity,
    many times the line's own size."""
    blob = bytearray()
    ends: list[int] = []
    for index, event in enumerate(events, start=1):
        blob += line(event)
        if index % PART_EVENTS == 0 or index == len(events):
            ends.append(len(blob))
    return blob, ends


def file_stem(vendor: str, org: str, blob: bytes | bytearray) -> str:
    """`import-<vendor>-<org>-<hash of every event line>`: the same events, the same names."""
    return f"import-{vendor}-{org}-{hashlib.blake2b(blob, digest_size=6).hexdigest()}"


def write_import(out: Path, stem: str, blob: bytearray, ends: list[int], gate: list[Event]) -> list[Path]:
    """Write the event lines (already in time order, parts ending at `ends`) and the gate window into
    `out`; the paths written."""
    out.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    view = memoryview(blob)
    # No events (an export with nothing to import) is no part, not an empty one.
    starts = [0, *ends[:-1]] if ends else []
    for number, (start, end) in enumerate(zip(starts, ends, strict=True), start=1):
        path = out / f"{stem}-{number:04d}.jsonl"
        _write(path, [view[start:end]])
        paths.append(path)
    view.release()
    if gate:
        path = out / f"{stem}{GATE_SUFFIX}"
        _write(path, (line(event) for event in gate))
        paths.append(path)
    return paths
