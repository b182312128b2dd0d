"""Stage 1 of validation: decode each record and pull out its envelope, into the stage database.

Parsing is the costly part, so each record is parsed once where possible: a JSON Lines file by
DuckDB's reader (its few unparsable records again from their raw text, to tell why), CSV/Parquet
cells as they are (only the payload string is JSON). A record this stage cannot read gets its reason
here (`bad_encoding`, `bad_json`, `malformed_row`); every other record goes on to the envelope rules
(`envelope`) and the payload rules (`payload`) with its fields in `<schema>.parsed`.

The SQL text helpers here (timestamp patterns, the supported range) are shared by the later stages.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import polars as pl
import pyarrow.parquet as pq
import pyarrow.types as pa_types
from pyarrow import DataType

from dagster_project.contract.events import (
    EARLIEST_TIMESTAMP,
    LATEST_TIMESTAMP,
    Reason,
)
from dagster_project.ingestion.batches import (
    LENIENT_JSON_TEXT,
    JsonFile,
    ParquetRows,
    RecordBatch,
    Table,
    lenient_only,
)
from dagster_project.ingestion.files import UnreadableFile, duckdb_path, open_inbox_file
from dagster_project.warehouse.store import key_hash_sql
from dagster_project.warehouse.store import quote_ident as _ident

STRING_FIELDS = ("event_id", "org_id", "occurred_at", "event_name", "entity_type", "entity_id")
# The offset as RFC 3339 bounds it (hours 00-23, minutes 00-59): DuckDB's cast takes +25:00 and shifts
# the time by it.
OFFSET_TS = r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?([Zz]|[+-]([01]\d|2[0-3]):?[0-5]\d)"
NAIVE_TS = r"\d{4}-\d{2}-\d{2}([Tt ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?)?"
# The supported instants as SQL constants (from the contract module, not input).
EARLIEST_SQL = f"'{EARLIEST_TIMESTAMP.isoformat()}'::timestamptz"
LATEST_SQL = f"'{LATEST_TIMESTAMP.isoformat()}'::timestamptz"


def instant_sql(text: str) -> str:
    """SQL: an RFC 3339 text as a timestamptz. RFC 3339 allows a lowercase `t` and `z`, which DuckDB's
    cast refuses: upper-casing is exact, as no other letter can appear in a text the pattern admits."""
    return f"try_cast(upper({text}) as timestamptz)"


def supported_sql(instant: str) -> str:
    """SQL: the instant lies in the range the apply can represent."""
    return f"{instant} between {EARLIEST_SQL} and {LATEST_SQL}"


def sql_literal(value: str) -> str:
    """Quote a constant from the contract module (never user input) as a SQL literal."""
    return "'" + value.replace("'", "''") + "'"


# -- stage 1: decode and parse ----------------------------------------------------------------

# Wraps every stage-1 query: the timestamp checks pandera reads as flags, and the quick content hash.
# The hash: the canonical fields with the payload minified (DuckDB `json()`), UTC µs time (formatted
# from the epoch as a plain timestamp: the same text as formatting the timestamptz in UTC, without
# ICU's per-row calendar work). It is only used for valid records, whose actor is a string or null.
# A mismatch is only a suspect: the ingest compares the canonical forms (sorted keys) before it calls
# two records a conflict. The key hash is what the log is searched by (`store.key_hash_sql`); computed
# here, in the preparation, so the judging of the file does not pay for it.
_TIMESTAMP_SQL = f"""
select *,
    regexp_full_match(coalesce(occurred_at_text, ''), '{OFFSET_TS}') as ts_has_offset,
    -- the two patterns exclude each other, so the second runs only where the first fails
    case when ts_has_offset then false else regexp_full_match(coalesce(occurred_at_text, ''), '{NAIVE_TS}') end
        as ts_naive,
    -- null outside the supported range too: such a record is `bad_timestamp` like an unreadable time
    case when {supported_sql(instant_sql("occurred_at_text"))} then {instant_sql("occurred_at_text")} end as occurred_at,
    md5(concat_ws(chr(31), event_name, entity_type, entity_id, coalesce(actor, chr(0)),
        strftime(make_timestamp(epoch_us(occurred_at)), '%Y-%m-%dT%H:%M:%S.%fZ'), payload)) as content_hash,
    {key_hash_sql("org_id", "event_id")} as key_hash
from ({{records}})
"""

# Records DuckDB's JSON reader could not turn into an object come back as all-NULL rows; they (and
# `csv_row` records) take the precise path below, with the raw line from Python. No line number here:
# a window over the reader runs on one thread; the table keeps the file's order (preserve_insertion_order,
# the default), so record n is the table's n-th rowid (see `_parse_json_file`).
_JSON_FILE_SQL = f"""
with src as (
    select *
    from read_json($path, format = 'newline_delimited', records = true, ignore_errors = true,
        compression = $compression,
        columns = {{{", ".join(f"{f}: 'JSON'" for f in (*STRING_FIELDS, "actor", "payload", "csv_row"))}}})
)
select null::varchar as parse_reason, null::varchar as parse_detail,
    {", ".join(f"{f} ->> '$' as {'occurred_at_text' if f == 'occurred_at' else f}" for f in (*STRING_FIELDS, "actor"))},
    {", ".join(f"json_type({f}) as t_{f}" for f in (*STRING_FIELDS, "actor", "payload"))},
    payload,
    coalesce({", ".join((*STRING_FIELDS, "actor", "payload"))}) is null or csv_row is not null as precise
from src
"""

# The precise path: one record's raw text at a time, telling every way it can fail to be a JSON object.
_JSON_LINES_SQL = f"""
with src as (
    select line, raw, bad_encoding, lenient_only, try_cast(raw as json) as j from lines
),
typed as (
    select
        line, raw, bad_encoding, lenient_only, j,
        json_type(j) as doc_type,
        json_extract_string(j, [{", ".join(sql_literal("$." + f) for f in (*STRING_FIELDS, "actor"))}]) as v,
        json_type(j, [{", ".join(sql_literal("$." + f) for f in (*STRING_FIELDS, "actor", "payload"))}]) as t,
        json_extract_string(j, '$.csv_row') as csv_row
    from src
)
select
    line,
    case
        when bad_encoding then '{Reason.BAD_ENCODING}'
        when j is null or lenient_only or doc_type <> 'OBJECT' then '{Reason.BAD_JSON}'
        when csv_row is not null then '{Reason.MALFORMED_ROW}'
    end as parse_reason,
    case
        when bad_encoding then 'the record is not valid UTF-8'
        when j is null then 'the record is not valid JSON'
        when lenient_only then 'the record is not strict JSON (trailing comma, NaN or Infinity)'
        when doc_type <> 'OBJECT' then 'the record is JSON but not an object (' || lower(doc_type) || ')'
        when csv_row is not null then 'the CSV row has ' || json_array_length(j, '$.csv_row')
            || ' fields, the header has a different number'
    end as parse_detail,
    v[1] as event_id, v[2] as org_id, v[3] as occurred_at_text, v[4] as event_name,
    v[5] as entity_type, v[6] as entity_id, v[7] as actor,
    t[1] as t_event_id, t[2] as t_org_id, t[3] as t_occurred_at, t[4] as t_event_name,
    t[5] as t_entity_type, t[6] as t_entity_id, t[7] as t_actor, t[8] as t_payload,
    json(json_extract(j, '$.payload')) as payload
from typed
"""


# CSV/Parquet cells are strings or null; only the payload string is JSON to parse. `kinds`: the JSON
# type of a column's values where it is not text (a typed Parquet column, see `_parquet_kinds`).
def _table_sql(kinds: dict[str, str]) -> str:
    payload_is_text = kinds.get("payload", "VARCHAR") == "VARCHAR"
    bad_payload = (
        "payload is not null and (p is null or payload_lenient_only)" if payload_is_text else "false"
    )
    t_payload = (
        "json_type(p)"
        if payload_is_text
        else f"case when payload is not null then {sql_literal(kinds['payload'])} end"
    )
    kind = {f: sql_literal(kinds.get(f, "VARCHAR")) for f in (*STRING_FIELDS, "actor")}
    return f"""
with src as (select *, try_cast(payload as json) as p from {{rows}})
select
    line,
    case
        when bad_encoding then '{Reason.BAD_ENCODING}'
        when csv_fields is not null then '{Reason.MALFORMED_ROW}'
        when {bad_payload} then '{Reason.BAD_JSON}'
    end as parse_reason,
    case
        when bad_encoding then 'the record is not valid UTF-8'
        when csv_fields is not null then 'the CSV row has ' || csv_fields || ' fields, the header has a different number'
        when {bad_payload} then 'payload is not valid JSON'
    end as parse_detail,
    {", ".join(f"{f} as {'occurred_at_text' if f == 'occurred_at' else f}" for f in (*STRING_FIELDS, "actor"))},
    {", ".join(f"case when {f} is not null then {kind[f]} end as t_{f}" for f in (*STRING_FIELDS, "actor"))},
    {t_payload} as t_payload, json(p) as payload
from src
"""


_TABLE_SQL = _table_sql({})


STAGE_DATABASE = "ingest_stage"


def stage_schema(con: duckdb.DuckDBPyConnection, slot: int = 0) -> str:
    """A schema for one batch's stage-1 tables, in an in-memory database every connection of this DuckDB
    instance sees: a batch can be prepared on one connection and judged on another.

    Plain tables, written outside any transaction: DuckDB scans the rows an open transaction wrote on
    one thread only, so the judging reads committed tables.
    """
    con.execute(f"attach if not exists ':memory:' as {STAGE_DATABASE}")
    schema = f"{STAGE_DATABASE}.s{int(slot)}"
    con.execute(f"create schema if not exists {schema}")
    return schema


def drop_stage(con: duckdb.DuckDBPyConnection, schema: str) -> None:
    """Free a batch's stage-1 tables (the schema comes back on its next use)."""
    con.execute(f"drop schema if exists {schema} cascade")


def _stage(con: duckdb.DuckDBPyConnection, table: str, sql: str, params: dict | None = None) -> None:
    """Collect stage-1 rows (the envelope pulled out, the timestamp judged) in a table."""
    con.execute(
        f"create or replace table {table} as " + _TIMESTAMP_SQL.replace("{records}", sql), params or {}
    )


def stage_json_file(con: duckdb.DuckDBPyConnection, path: Path, *, compressed: bool, schema: str) -> None:
    """DuckDB's pass over a JSON Lines file into `<schema>.json_records`. It needs only the path, so it
    can run while Python reads the same file's lines (`prepare_batch(..., json_staged=True)` goes on)."""
    con.execute(f"create schema if not exists {schema}")
    with duckdb_path(path) as exact:
        params = {"path": exact, "compression": "gzip" if compressed else "uncompressed"}
        _stage(con, f"{schema}.json_records", _JSON_FILE_SQL, params)


def _parse_json_file(con: duckdb.DuckDBPyConnection, batch: JsonFile, schema: str, *, staged: bool) -> None:
    """DuckDB parses the file; records it cannot parse (or numbers it cannot match) go the precise way.

    `parsed` is a view: the reader's rows numbered by rowid (not copied: a copy of the wide rows cost
    as much as a fifth of the parse), minus the records judged from their text, plus those.
    """
    if not staged and not batch.duckdb_refused:
        try:
            stage_json_file(con, batch.path, compressed=batch.compressed, schema=schema)
        except (duckdb.Error, OSError):
            # DuckDB's reader refuses a file Python read (an empty .gz, zero padding after the gzip
            # stream, a record past its memory cap), or the path is no longer a regular file (OSError):
            # every record takes the precise path, from Python's text.
            batch.duckdb_refused = True
    records = f"{schema}.json_records"
    trusted, first_rowid, precise = False, 0, []
    if not batch.duckdb_refused:
        # rowids run in the reader's (the file's) order from the table's first: the batch's record n is
        # rowid first_rowid + n - 1
        first_rowid, total, contiguous, precise = con.execute(
            "select coalesce(min(rowid), 0), count(*), coalesce(max(rowid) - min(rowid) + 1 = count(*), true), "
            f"coalesce(list(rowid - (select min(rowid) from {records}) + 1) filter (where precise), []) "
            f"from {records}"
        ).fetchone()
        in_order = con.execute("select current_setting('preserve_insertion_order')").fetchone()[0]
        trusted = total == batch.height and in_order and contiguous  # else only Python's numbers count
    # the reader's numbers count from the batch's first record; the file's from `batch.first`
    precise = (
        sorted({*(n + batch.first - 1 for n in precise), *batch.lenient_records()})
        if trusted
        else list(range(batch.first, batch.first + batch.height))
    )
    con.execute(
        f"create or replace table {schema}.precise_lines as select unnest($lines::bigint[]) as line",
        {"lines": precise},
    )
    con.register("lines", batch.lines(precise))
    try:
        _stage(con, f"{schema}.precise_records", _JSON_LINES_SQL)
    except duckdb.OutOfMemoryException as exc:
        # A record of tens of MB parsed record by record: the file waits in the inbox, with the reason.
        line, size = max(((n, len(batch.record(n))) for n in precise), key=lambda ns: ns[1], default=(0, 0))
        limit = con.execute("select current_setting('memory_limit')").fetchone()[0]
        raise UnreadableFile(
            "unreadable_file",
            f"{batch.name}: parsing its records needs more than DuckDB's memory cap ({limit}); "
            f"the largest is line {line} ({size / 2**20:.1f} MB): split it, or raise WORKSTREAM_DUCKDB_MEMORY",
        ) from exc
    finally:
        con.unregister("lines")
    if not trusted:
        con.execute(f"create or replace view {schema}.parsed as select * from {schema}.precise_records")
        return
    line = (
        f"rowid - {int(first_rowid)} + {int(batch.first)}"  # integers from DuckDB and the reader, not input
    )
    con.execute(
        f"""create or replace view {schema}.parsed as
        select {line} as line, * exclude (precise) from {records}
        where {line} not in (select line from {schema}.precise_lines)
        union all by name
        select * from {schema}.precise_records"""
    )


def _over_memory_cap(con: duckdb.DuckDBPyConnection, exc: duckdb.Error) -> UnreadableFile:
    """A CSV/Parquet batch DuckDB cannot hold within its cap: the file is unreadable, with the remedy
    (its quarantine row names the file)."""
    limit = con.execute("select current_setting('memory_limit')").fetchone()[0]
    return UnreadableFile(
        "unreadable_file",
        f"reading the file's rows needs more than DuckDB's memory cap ({limit}): split the file, "
        f"or raise WORKSTREAM_DUCKDB_MEMORY ({str(exc).splitlines()[0]})",
    )


def _stage_table(con: duckdb.DuckDBPyConnection, schema: str, rows: str, sql: str = _TABLE_SQL) -> None:
    """Parse the payload strings of split rows (`rows`: a relation with `_TABLE_SQL`'s input columns)
    into `<schema>.table_records`, the batch's `parsed` view."""
    try:
        _stage(con, f"{schema}.table_records", sql.replace("{rows}", rows))
    except duckdb.OutOfMemoryException as exc:
        raise _over_memory_cap(con, exc) from exc
    con.execute(f"create or replace view {schema}.parsed as select * from {schema}.table_records")


def _parse_table(con: duckdb.DuckDBPyConnection, batch: Table, schema: str) -> None:
    """CSV: the cells are already split, so only the payload string needs JSON parsing."""
    # DuckDB also parses trailing commas and NaN; the few payloads that could hold them get a strict check.
    suspects = batch.frame.with_row_index("i").filter(pl.col("payload").str.contains(LENIENT_JSON_TEXT))
    flags = [False] * batch.height
    for i, payload in suspects.select("i", "payload").iter_rows():
        flags[i] = lenient_only(payload)
    strict_failures = pl.Series("payload_lenient_only", flags, dtype=pl.Boolean)
    con.register("table_frame", batch.frame.with_columns(strict_failures))
    try:
        _stage_table(con, schema, "table_frame")
    finally:
        con.unregister("table_frame")


# A Parquet batch's rows, as the CSV reader's frame has them: the envelope columns as text, by record number.
_PARQUET_ROWS_SQL = f"""
create or replace table {{schema}}.parquet_rows as
select file_row_number + 1 as line,
    {", ".join(f"cast({_ident(f)} as varchar) as {f}" for f in (*STRING_FIELDS, "actor", "payload"))},
    false as bad_encoding, null::bigint as csv_fields
from read_parquet($path, file_row_number = true, binary_as_string = true)
where file_row_number >= $start and (file_row_number < $end or $last)
"""


def _json_kind(kind: DataType) -> str:
    """The JSON type a Parquet column's values would have in a JSON Lines record ("VARCHAR": text)."""
    if pa_types.is_dictionary(kind):
        kind = kind.value_type
    # binary is read as text (`binary_as_string`), and a column of nulls holds no value to judge
    if (
        pa_types.is_string(kind)
        or pa_types.is_large_string(kind)
        or pa_types.is_binary(kind)
        or pa_types.is_large_binary(kind)
        or pa_types.is_null(kind)
        or str(kind) in ("string_view", "binary_view")
    ):
        return "VARCHAR"
    if pa_types.is_integer(kind):
        return "UBIGINT" if pa_types.is_unsigned_integer(kind) else "BIGINT"
    if pa_types.is_floating(kind) or pa_types.is_decimal(kind):
        return "DOUBLE"
    if pa_types.is_boolean(kind):
        return "BOOLEAN"
    return str(kind).upper()


def _parquet_kinds(path: Path) -> dict[str, str]:
    """The JSON type of each envelope column that is not text. Parquet follows the JSON typing rules:
    an `int64` event_id is a number, `wrong_type` as in JSON Lines, not cast to text and accepted.
    (CSV has no types, so its cells are all text.) The schema is read from the footer of the file the
    inbox listed, opened without following links, as DuckDB reads it."""
    with open_inbox_file(path) as handle:
        schema = pq.read_schema(handle)
    kinds = {}
    for name in (*STRING_FIELDS, "actor", "payload"):
        if name in schema.names and (kind := _json_kind(schema.field(name).type)) != "VARCHAR":
            kinds[name] = kind
    return kinds


def _parse_parquet(con: duckdb.DuckDBPyConnection, batch: ParquetRows, schema: str) -> None:
    """Parquet: DuckDB reads the batch's rows into `<schema>.parquet_rows`; only the payload string
    needs JSON parsing. A read that fails (a damaged page) makes the whole file unreadable."""
    params = {"start": batch.start, "end": batch.start + batch.count, "last": batch.last}
    try:
        with duckdb_path(batch.path) as exact:
            con.execute(_PARQUET_ROWS_SQL.replace("{schema}", schema), {**params, "path": exact})
    except duckdb.OutOfMemoryException as exc:
        raise _over_memory_cap(con, exc) from exc
    except (duckdb.Error, OSError) as exc:
        raise UnreadableFile(
            "unreadable_file", f"cannot read {batch.path.name} as Parquet: {exc}".splitlines()[0]
        ) from exc
    rows = f"{schema}.parquet_rows"
    batch.count = con.execute(f"select count(*) from {rows}").fetchone()[0]  # the footer may undercount
    kinds = _parquet_kinds(batch.path)
    suspects = con.execute(
        f"select line, payload from {rows} where regexp_matches(payload, $pattern)",
        {"pattern": LENIENT_JSON_TEXT},
    ).fetchall()
    flagged = pl.DataFrame(
        {"line": [line for line, payload in suspects if lenient_only(payload)]}, schema={"line": pl.Int64}
    )
    con.register("lenient_lines", flagged)
    try:
        _stage_table(
            con,
            schema,
            f"(select r.*, l.line is not null as payload_lenient_only from {rows} r "
            "left join lenient_lines l using (line))",
            _table_sql(kinds),
        )
    finally:
        con.unregister("lenient_lines")


def stage_raw_text(con: duckdb.DuckDBPyConnection, schema: str, lines: list[int]) -> pl.DataFrame:
    """(line, raw) of staged Parquet rows: the row's columns as a JSON object, as for a CSV row."""
    fields = ", ".join(f"{f} := {f}" for f in (*STRING_FIELDS, "actor", "payload"))
    return con.execute(
        f"select line, to_json(struct_pack({fields}))::varchar as raw from {schema}.parquet_rows "
        "where line in (select unnest($lines::bigint[])) order by line",
        {"lines": lines},
    ).pl()


def parse_batch(
    con: duckdb.DuckDBPyConnection, batch: RecordBatch, schema: str, *, json_staged: bool = False
) -> None:
    """Decode each record's JSON and pull out the envelope into the view `<schema>.parsed`."""
    if isinstance(batch, JsonFile):
        _parse_json_file(con, batch, schema, staged=json_staged)
    elif isinstance(batch, ParquetRows):
        _parse_parquet(con, batch, schema)
    else:
        _parse_table(con, batch, schema)
