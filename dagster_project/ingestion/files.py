"""Opening an inbox file: never through a link, never waiting on a pipe, and within the size limits
every read of a file obeys (a decompression bomb is refused before it is all in memory).
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

UTF8_BOM = b"\xef\xbb\xbf"
# A .jsonl.gz (or a Parquet file's pages) may inflate to this many times the file's size (event files
# compress far less), and any file to the floor: past both it is a decompression bomb, refused before it
# is all in memory.
GZIP_MAX_RATIO = 100
GZIP_RATIO_FLOOR = 16 << 20


def without_bom(data: bytes) -> bytes:
    """The file's bytes without a leading UTF-8 byte-order mark (Excel's "CSV UTF-8" writes one): it
    marks the encoding and is not part of the first record or the header."""
    return data[len(UTF8_BOM) :] if data.startswith(UTF8_BOM) else data


class NotInboxFile(OSError):
    """The path is not a regular file of its own (a symbolic link, a folder, a pipe, a device): it is
    never read, so a link cannot bring a file from outside the inbox in."""


# Never follow a link (O_NOFOLLOW); never wait for a writer on a named pipe (O_NONBLOCK: no effect on a
# regular file, and anything else is refused once open).
_OPEN_FLAGS = (
    os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
)


def open_inbox_file(path: Path) -> BinaryIO:
    """Open an inbox file for reading: a regular file reached without following a symbolic link as its
    last component, else `NotInboxFile`. Every reader opens files through this, so the check and the
    read are of the same file."""
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except OSError as exc:
        if exc.errno == errno.ELOOP or (exc.errno == errno.EMLINK and os.path.islink(path)):
            raise NotInboxFile(errno.ELOOP, "a symbolic link is not read", str(path)) from exc
        raise
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise NotInboxFile(errno.EINVAL, "not a regular file", str(path))
    return os.fdopen(fd, "rb")


# DuckDB reads a path as a glob pattern (`[`, `*`, `?`), and no quoting makes every name literal. An
# open file's /dev/fd entry names exactly that file and holds none of them (/proc/self/fd where a
# container has no /dev/fd).
_FD_DIR = next((d for d in (Path("/dev/fd"), Path("/proc/self/fd")) if d.is_dir()), Path("/dev/fd"))


@contextmanager
def duckdb_path(path: Path) -> Iterator[str]:
    """A path naming exactly `path` to DuckDB's readers (`read_json`, `read_parquet`), valid in the block."""
    with open_inbox_file(path) as handle:
        yield str(_FD_DIR / str(handle.fileno()))


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
    mtime_ns: int = 0  # with `size`: tells whether the file changed after it was hashed
    name: str = ""  # its path in the inbox (`a/b.jsonl`), the name the ledger and the log give it

    def __post_init__(self) -> None:
        if not self.name:
            object.__setattr__(self, "name", self.path.name)


def read_all(path: Path) -> bytes:
    try:
        with open_inbox_file(path) as handle:
            return handle.read()
    except OSError as exc:  # e.g. replaced by a link after it was hashed
        raise UnreadableFile("unreadable_file", f"cannot read {path.name}: {exc}") from exc


def bomb_detail(name: str, limit: int) -> str:
    return (
        f"{name}: inflates to more than {limit:,} bytes, over {GZIP_MAX_RATIO} times its size: "
        "refused as a decompression bomb (if it is real, drop it uncompressed)"
    )
