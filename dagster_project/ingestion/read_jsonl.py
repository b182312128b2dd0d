"""Reading a JSON Lines file (plain or gzip) into record batches: one for the usual file, several
of about `BATCH_RECORDS` records for a large one.

DuckDB parses the records straight from disk; Python splits the lines only to number the records, to
re-check the few DuckDB could not parse or parses too leniently, and to quarantine raw text.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import zlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from dagster_project.ingestion import batches
from dagster_project.ingestion.batches import JsonFile, RecordBatch
from dagster_project.ingestion.files import (
    GZIP_MAX_RATIO,
    GZIP_RATIO_FLOOR,
    UTF8_BOM,
    UnreadableFile,
    bomb_detail,
    open_inbox_file,
    read_all,
    without_bom,
)

# ASCII bytes Python's str.strip() removes but bytes.strip() keeps (file/group/record/unit separators).
_UNICODE_ONLY_SPACE = frozenset(range(0x1C, 0x20))
# The same search over a whole file: the regex alternation is slow on large buffers (≈ 0.7 s per 80 MB),
# a plain regex for the comma plus `bytes.find` for the two words is ≈ 5× faster.
_TRAILING_COMMA = re.compile(rb",\s*[}\]]")
_LENIENT_WORDS = (b"NaN", b"Infinity")
_GZIP_CHUNK = 4 << 20  # bytes inflated per step: what the limit can overshoot by
_GZIP_INPUT = 1 << 20  # compressed bytes fed per step
_ZERO_PADDING = re.compile(rb"\x00*")
# Lines of ASCII whitespace only (what `_is_record` calls no record), after a newline; and the average
# line length under which the JSON reader collapses them before splitting the file into lines.
_BLANK_LINES = re.compile(rb"\n[\n \t\r\x0b\x0c\x1c-\x1f]*\n")  # one class repeated: no group stack
_BYTES_PER_LINE = 16
# Bytes of a plain file read and split at a time: its lines are kept, so reading the file whole first
# held it twice at once (the bytes and their lines) while it was split.
_READ_CHUNK = 8 << 20
# A JSON Lines file (inflated) up to this size is one batch, read by DuckDB from the file itself while
# Python splits its lines; a larger one is cut into batches (`json_batches`). The inbox's usual files
# are well under it.
WHOLE_FILE_BYTES = 128 << 20
# The temporary folder of a large file's batches: `workstream-jsonl-<pid>-<random>`.
_FOLDER_PREFIX = "workstream-jsonl-"


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
        data = read_all(path)
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
                    raise UnreadableFile("unreadable_file", bomb_detail(name, limit))
                chunks.append(chunk)
        offset -= len(member.unused_data)  # the next member starts in the slice this one ended in
    return b"".join(chunks)


def one_batch(size: int) -> bool:
    """Whether a JSON Lines file of `size` bytes (inflated) is read as one batch (see `WHOLE_FILE_BYTES`)."""
    return size <= WHOLE_FILE_BYTES


def _pieces(path: Path, data: bytes | None) -> Iterator[bytes]:
    """The file's bytes without a byte-order mark, in pieces whose lines are the file's lines (each
    piece but the last ended at a line break, which it no longer holds), `_READ_CHUNK` bytes at a time:
    read from the plain file at `path`, or cut from `data` (its bytes already read and inflated)."""
    if data is not None:
        data = without_bom(data)
        view, start = memoryview(data), 0
        while len(data) - start > _READ_CHUNK:
            cut = data.find(b"\n", start + _READ_CHUNK)
            if cut < 0:
                break
            yield bytes(view[start:cut])
            start = cut + 1
        yield bytes(view[start:])
        return
    try:
        with open_inbox_file(path) as handle:
            head = handle.read(len(UTF8_BOM))
            # the bytes since the last line break, as read: a long line is joined once, not copied per read
            parts = [] if head == UTF8_BOM else [head]
            while chunk := handle.read(_READ_CHUNK):
                cut = chunk.rfind(b"\n")
                if cut < 0:
                    parts.append(chunk)
                    continue
                parts.append(chunk[:cut])
                yield b"".join(parts)
                parts = [chunk[cut + 1 :]]
    except OSError as exc:  # e.g. replaced by a link after it was hashed
        raise UnreadableFile("unreadable_file", f"cannot read {path.name}: {exc}") from exc
    yield b"".join(parts)


def _split(piece: bytes) -> tuple[list[bytes], list[int]]:
    """A piece's records (its lines that are records) and the numbers (from 1, within the piece) of
    those that might be lenient JSON."""
    if piece.count(b"\n") > len(piece) // _BYTES_PER_LINE:
        # Mostly lines too short to be records: the split below costs a list slot per line, many
        # times the file's size for a file of blank lines. Runs of lines that are not records go
        # first (a record's number counts records only, so it does not change).
        piece = _BLANK_LINES.sub(b"\n", piece)
    lines = piece.split(b"\n")
    # _is_record, with its common case (a plain ASCII first character) inlined: one call per line is slow
    kept = [
        line
        for line in lines
        if (first := line.lstrip()[:1]) and (b" " < first < b"\x80" or _is_record(line))
    ]
    # A match that would span two pieces starts on a line ending in a comma, which
    # `JsonFile.lenient_records` drops unless the line holds a match of its own.
    return kept, _lenient_candidates(piece, lines, len(kept))


def json_batches(
    path: Path, compressed: bool, data: bytes | None = None, *, whole: bool | None = None
) -> Iterator[RecordBatch]:
    """The file's batches; `data`: its bytes already read (and inflated) by `read_json_data`;
    `whole`: whether it is one batch, when the caller has judged its size (`one_batch`) already.

    A file up to `WHOLE_FILE_BYTES` (inflated) is one batch that DuckDB reads from `path` itself.
    A larger one is cut into batches of about `BATCH_RECORDS` records, as CSV and Parquet files are,
    each written to a temporary plain file for DuckDB's reader (the next one split and written while
    this one is used) and removed when the next batch is taken or the reading stops: one batch of a
    whole file held every line, and every record's parsed envelope, at once.
    """
    if compressed and data is None:
        data = read_json_data(path, compressed)
    if whole is None:
        whole = one_batch(len(data) if data is not None else path.stat().st_size)
    if whole:
        records: list[bytes] = []
        candidates: list[int] = []
        for piece in _pieces(path, data):
            kept, lenient = _split(piece)
            candidates.extend(len(records) + n for n in lenient)
            records.extend(kept)
            del piece, kept
        data = None  # the lines are all that is kept
        yield JsonFile(path, compressed, records, candidates)
        return
    _sweep_leftovers()
    folder = tempfile.TemporaryDirectory(prefix=f"{_FOLDER_PREFIX}{os.getpid()}-")
    try:
        for batch in _read_ahead(_batched(path, _pieces(path, data), Path(folder.name))):
            try:
                yield batch
            finally:
                batch.path.unlink(missing_ok=True)
    finally:
        folder.cleanup()


def _sweep_leftovers() -> None:
    """Remove the batch folders that ingests killed before their cleanup left behind, with their events'
    text. A folder is named after the process that made it; only one whose process is gone is removed
    (another process's folder may be in use, and one not ours to remove is passed over)."""
    for folder in Path(tempfile.gettempdir()).glob(f"{_FOLDER_PREFIX}*-*"):
        pid = folder.name.removeprefix(_FOLDER_PREFIX).split("-", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)  # refuses a link; an error leaves the folder


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # a process of another user
        return True
    return True


def _read_ahead(items: Iterator[JsonFile]) -> Iterator[JsonFile]:
    """`items`, each made on a thread of its own while the one before is used: Python splits the next
    batch's lines while DuckDB parses this one (as it reads a file of one batch while Python splits it)."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="jsonl-read-ahead") as ahead:
        coming = ahead.submit(next, items, None)
        while (item := coming.result()) is not None:
            coming = ahead.submit(next, items, None)
            yield item


def _batched(path: Path, pieces: Iterator[bytes], folder: Path) -> Iterator[JsonFile]:
    """Batches of `batch_bounds`'s sizes, cut as the pieces come (a batch is let go once the records
    after it are at least a quarter batch: a shorter tail joins the last batch), each written to a
    file of its own in `folder`."""
    size = batches.BATCH_RECORDS
    records: list[bytes] = []
    candidates: list[int] = []
    first = 1  # the file's number of the first record held
    done = False
    while not done:
        piece = next(pieces, None)
        done = piece is None
        if piece is not None:
            kept, lenient = _split(piece)
            candidates.extend(len(records) + n for n in lenient)
            records.extend(kept)
            del piece, kept
        while records and (len(records) >= size + size // 4 or done):
            take = size if not done or len(records) >= size + size // 4 else len(records)
            held = records[:take]
            part = folder / f"batch-{first}.jsonl"
            part.write_bytes(b"\n".join(held))
            yield JsonFile(part, False, held, [n for n in candidates if n <= take], first=first, source=path)
            del held
            records = records[take:]
            candidates = [n - take for n in candidates if n > take]
            first += take


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
