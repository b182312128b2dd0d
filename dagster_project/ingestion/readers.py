"""Turn an inbox file of any contract format into record batches DuckDB can validate.

A JSON Lines file is parsed by DuckDB's own reader straight from disk (`JsonFile`); Python keeps the raw
lines only to number them, to re-check the few records DuckDB could not parse and to quarantine raw
text. CSV and Parquet rows become a frame of their string columns (`Table`); their `payload` is a JSON
*string*. Both give each record its 1-based record number `line` and its raw text on demand.
"""

from __future__ import annotations

import csv
import errno
import gc
import hashlib
import io
import json
import os
import re
import stat
import time
import zlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import orjson
import polars as pl
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from dagster_project.contract.events import ENVELOPE_FIELDS

BATCH_RECORDS = 250_000  # a tail under a quarter of this joins the batch before it (see batch_bounds)
# A file modified more recently than this is probably still being written.
SETTLE_SECONDS = 2.0
# The csv module refuses a field over 128 KiB by default (a long note in a payload, in a file pyarrow's
# reader does not take), which turned the row into a csv error; allow what a JSON record may hold.
# The limit is the module's (process-wide): raising it only lets other readers take longer fields too.
csv.field_size_limit(max(csv.field_size_limit(), 2**31 - 1))

FORMATS = {".jsonl": "jsonl", ".jsonl.gz": "jsonl.gz", ".csv": "csv", ".parquet": "parquet"}
# ASCII bytes Python's str.strip() removes but bytes.strip() keeps (file/group/record/unit separators).
_UNICODE_ONLY_SPACE = frozenset(range(0x1C, 0x20))
LINES_SCHEMA = {"line": pl.Int64, "raw": pl.String, "bad_encoding": pl.Boolean, "lenient_only": pl.Boolean}
# DuckDB's JSON parser also accepts trailing commas and NaN/Infinity, which JSON does not. Records that
# could hold them (a cheap byte search) are re-checked with Python's strict parser.
LENIENT_JSON = re.compile(rb",\s*[}\]]|NaN|Infinity")
LENIENT_JSON_TEXT = r",\s*[}\]]|NaN|Infinity"
# The same search over a whole file: the regex alternation is slow on large buffers (≈ 0.7 s per 80 MB),
# a plain regex for the comma plus `bytes.find` for the two words is ≈ 5× faster.
_TRAILING_COMMA = re.compile(rb",\s*[}\]]")
_LENIENT_WORDS = (b"NaN", b"Infinity")
UTF8_BOM = b"\xef\xbb\xbf"
# A .jsonl.gz (or a Parquet file's pages) may inflate to this many times the file's size (event files
# compress far less), and any file to the floor: past both it is a decompression bomb, refused before it
# is all in memory.
GZIP_MAX_RATIO = 100
GZIP_RATIO_FLOOR = 16 << 20
_GZIP_CHUNK = 4 << 20  # bytes inflated per step: what the limit can overshoot by
_GZIP_INPUT = 1 << 20  # compressed bytes fed per step
_ZERO_PADDING = re.compile(rb"\x00*")
# Lines of ASCII whitespace only (what `_is_record` calls no record), after a newline; and the average
# line length under which the JSON reader collapses them before splitting the file into lines.
_BLANK_LINES = re.compile(rb"\n[\n \t\r\x0b\x0c\x1c-\x1f]*\n")  # one class repeated: no group stack
_BYTES_PER_LINE = 16


def without_bom(data: bytes) -> bytes:
    """The file's bytes without a leading UTF-8 byte-order mark (Excel's "CSV UTF-8" writes one): it
    marks the encoding and is not part of the first record or the header."""
    return data[len(UTF8_BOM) :] if data.startswith(UTF8_BOM) else data


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


def inbox_name(path: Path, inbox: Path | None) -> str:
    """A file's name in the ledger: its path below the inbox (a subfolder's file keeps its folder), or
    its base name when it is not below `inbox`."""
    if inbox is not None and path.is_relative_to(inbox):
        return path.relative_to(inbox).as_posix()
    return path.name


@dataclass
class JsonFile:
    """A whole JSON Lines file: DuckDB reads `path`; `records` are its non-blank lines (undecoded)."""

    path: Path
    compressed: bool
    records: list[bytes]
    lenient_candidates: list[int]  # record numbers whose bytes might hold a trailing comma or NaN
    duckdb_refused: bool = False  # DuckDB's reader failed on the file: parse every record from `records`

    @property
    def height(self) -> int:
        return len(self.records)

    def lines(self, numbers: Iterable[int]) -> pl.DataFrame:
        """(line, raw, bad_encoding, lenient_only) for the given record numbers, decoded like the contract says."""
        rows = []
        for n in numbers:
            raw, bad = _decode(self.records[n - 1])
            rows.append((n, raw, bad, not bad and lenient_only(raw)))
        return pl.DataFrame(rows, schema=LINES_SCHEMA, orient="row")

    def lenient_records(self) -> list[int]:
        """Record numbers DuckDB would parse although they are not strict JSON (trailing comma, NaN)."""
        return [
            n
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


def _read_all(path: Path) -> bytes:
    try:
        with open_inbox_file(path) as handle:
            return handle.read()
    except OSError as exc:  # e.g. replaced by a link after it was hashed
        raise UnreadableFile("unreadable_file", f"cannot read {path.name}: {exc}") from exc


def _decode(line: bytes) -> tuple[str, bool]:
    """A record's text (stripped) and whether it was invalid UTF-8 (then decoded with replacements)."""
    try:
        return line.decode("utf-8").strip(), False
    except UnicodeDecodeError:
        return line.decode("utf-8", errors="replace").strip(), True


def _is_record(line: bytes) -> bool:
    """Not empty or whitespace-only, judged like str.strip() on the decoded line, without decoding most lines."""
    stripped = line.strip()
    if not stripped:
        return False
    if stripped[0] < 0x80 and stripped[0] not in _UNICODE_ONLY_SPACE:
        return True
    return bool(line.decode("utf-8", errors="replace").strip())


def read_json_data(path: Path, compressed: bool) -> bytes:
    """A JSON Lines file's bytes, inflated when `compressed` (`gunzip`'s limits); UnreadableFile if not."""
    try:
        data = _read_all(path)
        return gunzip(data, path.name) if compressed else data
    except (OSError, EOFError, zlib.error) as exc:  # a damaged deflate stream is a zlib.error
        raise UnreadableFile("unreadable_file", f"cannot read {path.name}: {exc}") from exc


def gunzip(data: bytes, name: str) -> bytes:
    """Every gzip member of `data`, as `gzip.decompress` reads them (zero padding after a member ends
    the stream), inflated a bounded step at a time: more than `GZIP_MAX_RATIO` times the file's size
    (and over `GZIP_RATIO_FLOOR`) is a decompression bomb, refused before it is all in memory."""
    limit = max(GZIP_RATIO_FLOOR, GZIP_MAX_RATIO * len(data))
    view = memoryview(data)
    chunks: list[bytes] = []
    total, offset, first = 0, 0, True
    while True:
        if not first:
            offset = _ZERO_PADDING.match(data, offset).end()
        if offset >= len(data) and not (first and data):
            break
        first = False
        member = zlib.decompressobj(wbits=31)  # 31: a gzip header and trailer, both checked by zlib
        while not member.eof:
            if offset >= len(data):
                raise EOFError("Compressed file ended before the end-of-stream marker was reached")
            # Input in slices too: `unconsumed_tail` copies what a step leaves of its input.
            pending: bytes | memoryview = view[offset : offset + _GZIP_INPUT]
            offset += len(pending)
            while pending and not member.eof:
                chunk = member.decompress(pending, _GZIP_CHUNK)
                pending = member.unconsumed_tail
                total += len(chunk)
                if total > limit:
                    raise UnreadableFile("unreadable_file", _bomb_detail(name, limit))
                chunks.append(chunk)
        offset -= len(member.unused_data)  # the next member starts in the slice this one ended in
    return b"".join(chunks)


def _bomb_detail(name: str, limit: int) -> str:
    return (
        f"{name}: inflates to more than {limit:,} bytes, over {GZIP_MAX_RATIO} times its size: "
        "refused as a decompression bomb (if it is real, drop it uncompressed)"
    )


def json_batches(path: Path, compressed: bool, data: bytes | None = None) -> Iterator[RecordBatch]:
    """The file's one batch; `data`: its bytes already read (and inflated) by `read_json_data`."""
    data = without_bom(read_json_data(path, compressed) if data is None else data)
    if data.count(b"\n") > len(data) // _BYTES_PER_LINE:
        # Mostly lines too short to be records: the split below costs a list slot per line, many times
        # the file's size for a file of blank lines. Runs of lines that are not records go first (a
        # record's number counts records only, so it does not change).
        data = _BLANK_LINES.sub(b"\n", data)
    lines = data.split(b"\n")
    # _is_record, with its common case (a plain ASCII first character) inlined: one call per line is slow
    records = [
        line
        for line in lines
        if (first := line.lstrip()[:1]) and (b" " < first < b"\x80" or _is_record(line))
    ]
    candidates = _lenient_candidates(data, lines, len(records))
    del data, lines
    yield JsonFile(path, compressed, records, candidates)


def _lenient_candidates(data: bytes, lines: list[bytes], record_count: int) -> list[int]:
    """Record numbers of the lines where a whole-buffer search finds a trailing comma, NaN or Infinity."""
    positions = sorted(
        [m.start() for m in _TRAILING_COMMA.finditer(data)]
        + [pos for word in _LENIENT_WORDS for pos in _find_all(data, word)]
    )
    if not positions:
        return []
    physical: list[int] = []  # 0-based line index of each position, counted incrementally
    line, scanned = 0, 0
    for pos in positions:
        line += data.count(b"\n", scanned, pos)
        scanned = pos
        if not physical or physical[-1] != line:
            physical.append(line)
    if record_count == len(lines) or (record_count == len(lines) - 1 and not lines[-1]):
        return [i + 1 for i in physical]  # no blank lines before the last: line i is record i + 1
    wanted, numbers, record = set(physical), [], 0
    for i, text in enumerate(lines):
        if _is_record(text):
            record += 1
            if i in wanted:
                numbers.append(record)
    return numbers


def _find_all(data: bytes, word: bytes) -> Iterator[int]:
    pos = data.find(word)
    while pos != -1:
        yield pos
        pos = data.find(word, pos + 1)


def _table(frame: pl.DataFrame, first_line: int, **extra: pl.Series) -> Table:
    """Envelope string columns plus record numbers and the per-row problem flags."""
    count = frame.height
    return Table(
        frame.select(
            pl.int_range(first_line, first_line + count, dtype=pl.Int64).alias("line"),
            *[pl.col(name).cast(pl.String) for name in ENVELOPE_FIELDS],
            (extra["bad_encoding"] if "bad_encoding" in extra else pl.repeat(False, count)).alias(
                "bad_encoding"
            ),
            (extra["csv_fields"] if "csv_fields" in extra else pl.repeat(None, count, dtype=pl.Int64)).alias(
                "csv_fields"
            ),
        ),
        extra.get("raw"),
    )


def _check_header(header: list[str], path: Path) -> None:
    missing = [name for name in ENVELOPE_FIELDS if name not in header]
    if missing:
        raise UnreadableFile("bad_header", f"{path.name}: header lacks columns {', '.join(missing)}")


def _csv_batches(path: Path) -> Iterator[RecordBatch]:
    """CSV with the stdlib csv module's meaning: exact record numbers, short or long rows caught per row.

    pyarrow's reader gives the same rows several times faster for the usual file (one line per record,
    UTF-8, no NUL); `_csv_fast` takes it only then and only when it can prove the numbering, and the
    stdlib reader does every other file (polars' reader cannot: it fills a short row with nulls, so it
    cannot tell `a,b` from `a,b,`).
    """
    yield from _csv_batches_slow(without_bom(_read_all(path)), path)


def _csv_rows(text: str) -> list[list[str] | csv.Error]:
    """Every row after the header; a row the csv module cannot parse is kept as its error.

    The whole file in one `list()` call when it parses cleanly (the common case); only a file with a
    row the csv module rejects is read again row by row, which gives the same rows.
    """
    reader = csv.reader(io.StringIO(text, newline=""))
    next(reader)  # the header, already checked
    try:
        return list(reader)
    except csv.Error:
        pass
    reader = csv.reader(io.StringIO(text, newline=""))
    next(reader)
    rows: list[list[str] | csv.Error] = []
    while True:
        try:
            rows.append(next(reader))
        except StopIteration:
            return rows
        except csv.Error as exc:
            rows.append(exc)


def _bad_encoding(rows: list[list[str] | csv.Error], text_is_utf8: bool) -> list[bool]:
    """Rows holding undecodable bytes (kept as lone surrogates); no row can when the text decoded cleanly."""
    if text_is_utf8:
        return [False] * len(rows)
    flags = []
    for row in rows:
        try:
            if isinstance(row, list):
                "".join(row).encode("utf-8")
            flags.append(False)
        except UnicodeEncodeError:
            flags.append(True)
    return flags


def _irregular_raw(row: list[str] | csv.Error, width: int) -> str | None:
    """The raw text of a row that is not a plain record: a parse error or a ragged row (else None)."""
    if isinstance(row, csv.Error):
        return orjson.dumps({"csv_error": str(row)}).decode()
    if len(row) != width:
        return orjson.dumps({"csv_row": row}).decode()
    return None


@contextmanager
def _gc_paused() -> Iterator[None]:
    """No cyclic garbage collection while millions of row lists are built (they hold no cycles)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _csv_batches_slow(data: bytes, path: Path) -> Iterator[RecordBatch]:
    """Row by row, so one ragged or mis-encoded row is quarantined instead of failing the file."""
    with _gc_paused():
        frame, raws, bad, fields = _csv_frame(data, path)
    for start, end in batch_bounds(frame.height):
        yield _table(
            frame.slice(start, end - start),
            start + 1,
            raw=pl.Series(raws[start:end], dtype=pl.String),
            bad_encoding=pl.Series(bad[start:end], dtype=pl.Boolean),
            csv_fields=pl.Series(fields[start:end], dtype=pl.Int64),
        )


def _csv_frame(
    data: bytes, path: Path
) -> tuple[pl.DataFrame, list[str | None], list[bool], list[int | None]]:
    """The envelope columns of every row, plus per row: raw text if irregular, bad encoding, field count."""
    header = _plain_header(data)
    if header is not None:  # a UTF-8 file with a one-line header: no need to decode it for the header
        _check_header(header, path)
        fast = _csv_fast(data, header)
        if fast is not None:
            return fast
        text, text_is_utf8 = data.decode("utf-8"), True
    else:
        try:
            text, text_is_utf8 = data.decode("utf-8"), True
        except UnicodeDecodeError:
            text, text_is_utf8 = data.decode("utf-8", errors="surrogateescape"), False
        reader = csv.reader(io.StringIO(text, newline=""))
        try:
            header = next(reader)
        except StopIteration:
            raise UnreadableFile("bad_header", f"{path.name}: empty file, no header row") from None
        except csv.Error as exc:
            raise UnreadableFile("unreadable_file", f"{path.name}: {exc}") from exc
        _check_header(header, path)
        if text_is_utf8:
            del text, reader
            fast = _csv_fast(data, header)
            if fast is not None:
                return fast
            text = data.decode("utf-8")
    del data
    rows = _csv_rows(text)
    del text
    width = len(header)
    # Rows that are not plain records (parse errors, ragged rows) or hold undecodable bytes are few:
    # find them with cheap scans, then treat only them one by one.
    irregular = [i for i, row in enumerate(rows) if type(row) is not list or len(row) != width]
    bad = _bad_encoding(rows, text_is_utf8)
    bad_rows = [i for i, flag in enumerate(bad) if flag] if not text_is_utf8 else []
    for i in bad_rows:  # undecodable bytes become U+FFFD, as in the JSON Lines reader
        rows[i] = [c.encode("utf-8", "surrogateescape").decode("utf-8", "replace") for c in rows[i]]
    raws: list[str | None] = [None] * len(rows)
    fields: list[int | None] = [None] * len(rows)
    empty = [None] * width
    for i in irregular:
        row = rows[i]
        raws[i] = _irregular_raw(row, width)
        if isinstance(row, list):
            fields[i] = len(row)
        rows[i] = empty
    # Row-wise construction in polars beats transposing in Python.
    positional = pl.DataFrame(rows, schema={f"c{i}": pl.String for i in range(width)}, orient="row")
    del rows
    return _envelope_columns(positional, header), raws, bad, fields


def _plain_header(data: bytes) -> list[str] | None:
    """The header of a UTF-8 file whose first line is plain (no quote, no CR but its line end), read by
    the `csv` module from that line alone; else None. Reading it through a `StringIO` of the whole
    decoded file cost ≈ 0.13 s of the 0.59 s Python read of a 60 MB file (cProfile).
    """
    first_newline = data.find(b"\n")
    first_line = data[:first_newline]
    if first_newline < 0 or b'"' in first_line or b"\r" in first_line.removesuffix(b"\r"):
        return None
    try:
        data.decode("utf-8")  # the fast path is for UTF-8 files; the text itself is not needed here
    except UnicodeDecodeError:
        return None
    return next(csv.reader([first_line.removesuffix(b"\r").decode("utf-8")]), [])


def _envelope_columns(positional: pl.DataFrame, header: list[str]) -> pl.DataFrame:
    """The envelope columns of a frame whose columns are `c0`, `c1`, … in header order.

    Positional names because a header may repeat a name (the first one counts, as `header.index`
    says); an empty cell is a missing value.
    """
    return positional.select(
        pl.col(f"c{header.index(name)}").replace("", None).alias(name) for name in ENVELOPE_FIELDS
    )


def _csv_fast(
    data: bytes, header: list[str]
) -> tuple[pl.DataFrame, list[str | None], list[bool], list[int | None]] | None:
    """`_csv_frame`'s result through pyarrow's CSV reader, or None when it cannot be shown to be the same.

    Taken only for UTF-8 without NUL or a lone CR whose header is one plain line; pyarrow then reads the
    rows after it, skipping (and reporting, with their line number) rows of another width. Their field
    lists come from the stdlib reader on that line of the file. Record n is line n + 1 only when every
    record is one line: checked by counting lines against records (a quoted newline, a blank line or a
    row pyarrow and the stdlib split differently makes the counts differ, and the stdlib reads it all).
    """
    first_newline = data.find(b"\n")
    if b"\x00" in data or first_newline < 0:
        return None
    if b"\r" in data and data.count(b"\r") != data.count(b"\r\n"):  # `in` first: most files hold no CR
        return None
    if data.startswith(UTF8_BOM, first_newline + 1):
        return None  # pyarrow would take it for a byte-order mark and drop it
    width = len(header)
    if next(csv.reader([data[:first_newline].decode("utf-8").rstrip("\r")]), None) != header:
        return None  # a header with quoted newlines or other surprises
    skipped: list[tuple[int | None, str]] = []

    def skip(row: pa_csv.InvalidRow) -> str:
        skipped.append((row.number, row.text))
        return "skip"

    names = [f"c{i}" for i in range(width)]
    try:
        table = pa_csv.read_csv(
            pa.py_buffer(memoryview(data)[first_newline + 1 :]),
            read_options=pa_csv.ReadOptions(column_names=names, use_threads=False),
            parse_options=pa_csv.ParseOptions(newlines_in_values=True, invalid_row_handler=skip),
            convert_options=pa_csv.ConvertOptions(
                column_types=dict.fromkeys(names, pa.string()),
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except (pa.ArrowException, ValueError):
        return None
    records = table.num_rows + len(skipped)
    lines = data.count(b"\n", first_newline + 1) + (0 if data.endswith(b"\n") else 1)
    if records != lines or any(number is None for number, _ in skipped):
        return None
    raws: list[str | None] = [None] * records
    fields: list[int | None] = [None] * records
    body = data[first_newline + 1 :].split(b"\n") if skipped else []
    for number, _ in skipped:  # the line as the file has it, with its newline (pyarrow's text has none)
        line = body[number - 1].decode("utf-8") + ("\n" if number < len(body) else "")
        parsed = list(csv.reader(io.StringIO(line, newline="")))
        if len(parsed) != 1 or len(parsed[0]) == width:
            return None  # the stdlib reads this line otherwise
        raws[number - 1] = _irregular_raw(parsed[0], width)
        fields[number - 1] = len(parsed[0])
    frame = pl.from_arrow(table)
    if skipped:  # irregular rows are all-null rows at their own record numbers
        irregular = sorted(number - 1 for number, _ in skipped)
        taken = pl.Series([i for i in range(records) if fields[i] is None], dtype=pl.Int64)
        frame = (
            pl.concat(
                [
                    frame.with_columns(taken.alias("_i")),
                    pl.DataFrame({"_i": irregular}, schema={"_i": pl.Int64}).with_columns(
                        pl.lit(None, pl.String).alias(n) for n in names
                    ),
                ],
                how="diagonal",
            )
            .sort("_i")
            .drop("_i")
        )
    return _envelope_columns(frame, header), raws, [False] * records, fields


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


def _parquet_batches(path: Path) -> Iterator[RecordBatch]:
    """Row ranges of a Parquet file, after checking its footer and columns (DuckDB reads the rows).

    A file that fails to open is unreadable as a whole; so is one damaged part-way (DuckDB's read fails
    and the file's transaction rolls back, see `validation`).
    """
    try:
        with open_inbox_file(path) as handle:
            parquet = pq.ParquetFile(handle)
            schema, meta, size = parquet.schema_arrow, parquet.metadata, os.fstat(handle.fileno()).st_size
    except (pa.ArrowException, OSError) as exc:
        raise UnreadableFile("unreadable_file", f"cannot read {path.name} as Parquet: {exc}") from exc
    # The footer's sizes are what the readers allocate by (a page that inflates past its declared size
    # fails to read): the same ratio limit as gzip, checked before a page is read.
    declared = sum(
        meta.row_group(g).column(c).total_uncompressed_size
        for g in range(meta.num_row_groups)
        for c in range(meta.num_columns)
    )
    limit = max(GZIP_RATIO_FLOOR, GZIP_MAX_RATIO * size)
    if declared > limit:
        raise UnreadableFile("unreadable_file", _bomb_detail(path.name, limit))
    rows = meta.num_rows
    _check_header(schema.names, path)
    for name in ENVELOPE_FIELDS:
        kind = schema.field(name).type
        if pa.types.is_nested(kind):
            raise UnreadableFile(
                "unreadable_file", f"cannot read {path.name} as Parquet: column {name} is {kind}, not text"
            )
    bounds = batch_bounds(rows)
    for start, end in bounds:
        yield ParquetRows(path, start, end - start, last=end == bounds[-1][1])


def read_batches(path: Path, fmt: str) -> Iterator[RecordBatch]:
    """Record batches of one file; raises UnreadableFile when nothing in it can be read."""
    if fmt == "jsonl":
        return json_batches(path, compressed=False)
    if fmt == "jsonl.gz":
        return json_batches(path, compressed=True)
    if fmt == "csv":
        return _csv_batches(path)
    if fmt == "parquet":
        return _parquet_batches(path)
    raise ValueError(f"unknown format {fmt}")
