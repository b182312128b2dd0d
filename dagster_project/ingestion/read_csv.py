"""Reading a CSV file into record batches of its envelope cells (`Table`), with the stdlib csv module's
meaning: exact record numbers, ragged or mis-encoded rows caught one by one (pyarrow's reader takes
the usual file when it can prove it reads the same rows).
"""

from __future__ import annotations

import csv
import gc
import io
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import orjson
import polars as pl
import pyarrow as pa
import pyarrow.csv as pa_csv

from dagster_project.contract.events import ENVELOPE_FIELDS
from dagster_project.ingestion.batches import RecordBatch, Table, batch_bounds, check_header
from dagster_project.ingestion.files import UTF8_BOM, UnreadableFile, read_all, without_bom

# The csv module refuses a field over 128 KiB by default (a long note in a payload, in a file pyarrow's
# reader does not take), which turned the row into a csv error; allow what a JSON record may hold.
# The limit is the module's (process-wide): raising it only lets other readers take longer fields too.
csv.field_size_limit(max(csv.field_size_limit(), 2**31 - 1))


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


def csv_batches(path: Path) -> Iterator[RecordBatch]:
    """CSV with the stdlib csv module's meaning: exact record numbers, short or long rows caught per row.

    pyarrow's reader gives the same rows several times faster for the usual file (one line per record,
    UTF-8, no NUL); `_csv_fast` takes it only then and only when it can prove the numbering, and the
    stdlib reader does every other file (polars' reader cannot: it fills a short row with nulls, so it
    cannot tell `a,b` from `a,b,`).
    """
    yield from _csv_batches_slow(without_bom(read_all(path)), path)


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
        check_header(header, path)
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
        check_header(header, path)
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
