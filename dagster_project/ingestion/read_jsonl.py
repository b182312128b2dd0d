"""Reading a JSON Lines file (plain or gzip) into its one record batch.

DuckDB parses the file's records straight from disk; Python splits its lines only to number the
records, to re-check the few DuckDB could not parse or parses too leniently, and to quarantine raw text.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterator
from pathlib import Path

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


def _pieces(path: Path, compressed: bool, data: bytes | None) -> Iterator[bytes]:
    """The file's bytes without a byte-order mark, in pieces whose lines are the file's lines (each
    piece but the last ended at a line break, which it no longer holds). A plain file is read
    `_READ_CHUNK` bytes at a time; an inflated one (`data`, or read here) is one piece."""
    if compressed or data is not None:
        yield without_bom(read_json_data(path, compressed) if data is None else data)
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


def json_batches(path: Path, compressed: bool, data: bytes | None = None) -> Iterator[RecordBatch]:
    """The file's one batch; `data`: its bytes already read (and inflated) by `read_json_data`."""
    records: list[bytes] = []
    candidates: list[int] = []
    for piece in _pieces(path, compressed, data):
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
        # Numbered within the piece; a match that would span two pieces starts on a line ending in a
        # comma, which `JsonFile.lenient_records` drops unless the line holds a match of its own.
        candidates.extend(len(records) + n for n in _lenient_candidates(piece, lines, len(kept)))
        records.extend(kept)
        del piece, lines, kept
    data = None  # the pieces' lines are all that is kept
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
