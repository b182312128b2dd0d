"""The inbox: which files are ready to ingest, what each is named and hashed, and its record batches.

Each format has its reader (`read_jsonl`, `read_csv`, `read_parquet`), all giving the batches of
`batches`; files are opened through `files`, never through a link. A JSON Lines file is parsed by
DuckDB's own reader straight from disk (`JsonFile`); CSV and Parquet rows keep their string columns,
with `payload` a JSON *string*.
"""

from __future__ import annotations

import hashlib
import os
import stat
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from dagster_project.ingestion.batches import RecordBatch
from dagster_project.ingestion.files import open_inbox_file
from dagster_project.ingestion.read_csv import csv_batches
from dagster_project.ingestion.read_jsonl import json_batches
from dagster_project.ingestion.read_parquet import parquet_batches

# A file modified more recently than this is probably still being written.
SETTLE_SECONDS = 2.0

FORMATS = {".jsonl": "jsonl", ".jsonl.gz": "jsonl.gz", ".csv": "csv", ".parquet": "parquet"}


def inbox_name(path: Path, inbox: Path | None) -> str:
    """A file's name in the ledger: its path below the inbox (a subfolder's file keeps its folder), or
    its base name when it is not below `inbox`."""
    if inbox is not None and path.is_relative_to(inbox):
        return path.relative_to(inbox).as_posix()
    return path.name


def file_format(path: Path) -> str | None:
    name = path.name.lower()
    for suffix in sorted(FORMATS, key=len, reverse=True):
        if name.endswith(suffix):
            return FORMATS[suffix]
    return None


def content_hash(path: Path) -> str:
    digest = hashlib.sha256()
    with open_inbox_file(path) as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


_LINK_SKIPPED = "a symbolic link: not followed (move or copy the file into the inbox)"


@dataclass
class InboxScan:
    """What `scan_inbox` found: files ready to ingest, and entries it will not read, with why."""

    ready: list[Path] = field(default_factory=list)
    passed_over: list[tuple[str, str]] = field(default_factory=list)  # (path in the inbox, why)


def scan_inbox(inbox: Path, *, now: float | None = None, settle_seconds: float = SETTLE_SECONDS) -> InboxScan:
    """Files ready to ingest, in a stable order (path in the inbox), subfolders included.

    Dotfiles, *.tmp, other suffixes and still-growing files wait, silently. A symbolic link (to a file
    or a folder, inside the inbox or out) is never followed: it is passed over with a reason, so a link
    cannot bring a file from elsewhere in. So is anything that is not a regular file (a named pipe).
    """
    scan = InboxScan()
    if not inbox.is_dir():
        return scan
    now = time.time() if now is None else now
    for folder, subfolders, names in os.walk(inbox, followlinks=False):
        here = Path(folder)
        subfolders[:] = sorted(d for d in subfolders if not d.startswith("."))
        for name in subfolders:
            if (here / name).is_symlink():
                scan.passed_over.append(((here / name).relative_to(inbox).as_posix(), _LINK_SKIPPED))
        for name in names:
            path = here / name
            if name.startswith(".") or name.endswith(".tmp") or file_format(path) is None:
                continue
            info = path.lstat()
            if stat.S_ISLNK(info.st_mode):
                scan.passed_over.append((path.relative_to(inbox).as_posix(), _LINK_SKIPPED))
            elif not stat.S_ISREG(info.st_mode):
                scan.passed_over.append((path.relative_to(inbox).as_posix(), "not a regular file: not read"))
            elif now - info.st_mtime >= settle_seconds:
                scan.ready.append(path)
    scan.ready.sort(key=lambda path: path.relative_to(inbox).parts)
    scan.passed_over.sort()
    return scan


def list_inbox(
    inbox: Path, *, now: float | None = None, settle_seconds: float = SETTLE_SECONDS
) -> list[Path]:
    """The files `scan_inbox` finds ready to ingest."""
    return scan_inbox(inbox, now=now, settle_seconds=settle_seconds).ready


def read_batches(
    path: Path, fmt: str, *, data: bytes | None = None, whole: bool | None = None
) -> Iterator[RecordBatch]:
    """Record batches of one file; raises UnreadableFile when nothing in it can be read. For JSON Lines,
    `data` and `whole` as `json_batches` takes them."""
    if fmt == "jsonl":
        return json_batches(path, compressed=False, data=data, whole=whole)
    if fmt == "jsonl.gz":
        return json_batches(path, compressed=True, data=data, whole=whole)
    if fmt == "csv":
        return csv_batches(path)
    if fmt == "parquet":
        return parquet_batches(path)
    raise ValueError(f"unknown format {fmt}")
