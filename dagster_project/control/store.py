"""The control store (`<home>/control.sqlite`, SQLite in WAL mode): small, concurrent operational state.

Sensors read it cheaply while a run holds the warehouse. For now it records which inbox files
(by content hash) the warehouse has committed, so the inbox sensor never needs the warehouse lock.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

SCHEMA = """
create table if not exists ingested_files (
    content_hash text primary key,
    file text not null,
    status text not null,
    ingested_at text not null
);
"""


@contextmanager
def connect(path: Path) -> Iterator[sqlite3.Connection]:
    path.parent.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(path, timeout=30, isolation_level=None)
    try:
        con.execute("pragma journal_mode=wal")
        con.execute("pragma busy_timeout=30000")
        con.executescript(SCHEMA)
        yield con
    finally:
        con.close()


def record_ingested(path: Path, files: Iterable[tuple[str, str, str]], at: datetime) -> None:
    """Mark (content_hash, file, status) as committed to the warehouse; idempotent."""
    with connect(path) as con:
        con.execute("begin immediate")
        con.executemany(
            "insert or ignore into ingested_files values (?, ?, ?, ?)",
            [(h, f, s, at.isoformat()) for h, f, s in files],
        )
        con.execute("commit")


def ingested_hashes(path: Path) -> set[str]:
    if not path.exists():
        return set()
    with connect(path) as con:
        return {row[0] for row in con.execute("select content_hash from ingested_files")}
