"""Validate record batches against the contract: parse (SQL), envelope (pandera), payload (SQL).

Each record gets at most one reason code, the first that applies in this order: decoding and JSON
parsing (`parsing`), then the envelope (`envelope`: a pandera-on-polars schema whose checks are named
after reason codes), then the event's payload rules (`payload`, generated from `contract.EVENTS`).
This module composes the three stages, and finds the JSON shape problems (`structure`) and the keys a
batch repeats.

Parsing and the envelope need no log, so `prepare_batch` can run on another connection (into the
in-memory stage database every connection of the instance sees) while the previous file is stored;
`use_prepared` then points the judging connection's views at that batch.
"""

from __future__ import annotations

from datetime import datetime

import duckdb

from dagster_project.ingestion.batches import JsonFile, ParquetRows, RecordBatch
from dagster_project.ingestion.envelope import ENVELOPE_COLUMNS, envelope_reasons
from dagster_project.ingestion.parsing import parse_batch, stage_schema
from dagster_project.ingestion.payload import judged_sql
from dagster_project.ingestion.structure import (
    SUSPECT_PATTERN,
    duplicate_keys,
    first_reasons,
    payload_reasons,
)

# Valid records whose key the batch holds more than once (rare): the first line of each and its hash.
# Nothing here needs the log, so the preparation finds them, not the file's turn to be stored.
_REPEATS_SQL = """
create or replace table {schema}.repeats as
select org_id, event_id, min(line) as first_line, arg_min(content_hash, line) as first_hash
from {schema}.judged where reason is null group by org_id, event_id having count(*) > 1
"""


def _stage_structure(con: duckdb.DuckDBPyConnection, batch: RecordBatch, schema: str) -> None:
    """`<schema>.structure`: the records refused for their JSON's shape (duplicate keys, nesting,
    overflowing numbers). Keys are searched in the text the apply's parser would be given for the
    record (a JSON Lines record whole, a CSV or Parquet row's payload string); depth and numbers in the
    payload the apply parses, screened by a text test DuckDB runs first."""
    if isinstance(batch, JsonFile):
        duplicates = duplicate_keys(enumerate(batch.records, start=batch.first))
    elif isinstance(batch, ParquetRows):
        rows = con.execute(f"select line, payload from {schema}.parquet_rows").fetchall()
        duplicates = duplicate_keys(rows)
    else:
        duplicates = duplicate_keys(batch.frame.select("line", "payload").iter_rows())
    suspects = con.execute(
        f"select line, payload::varchar from {schema}.parsed "
        "where parse_reason is null and regexp_matches(payload, $pattern)",
        {"pattern": SUSPECT_PATTERN},
    ).fetchall()
    con.register("structure_reasons", first_reasons(payload_reasons(suspects), duplicates))
    try:
        con.execute(f"create or replace table {schema}.structure as select * from structure_reasons")
    finally:
        con.unregister("structure_reasons")


def prepare_batch(
    con: duckdb.DuckDBPyConnection,
    batch: RecordBatch,
    *,
    now: datetime,
    schema: str,
    json_staged: bool = False,
) -> None:
    """Parse a batch, judge its envelope (`<schema>.env`) and then its payloads: `<schema>.judged` holds
    every record's reason (null: valid), org and event id and content hash; `<schema>.parsed` its fields;
    `<schema>.repeats` the keys it holds more than once.

    Only the flat envelope columns travel to polars for pandera; raw text and payloads stay in DuckDB.
    Nothing here reads the log, so the next file can be prepared while this one is stored.
    `json_staged`: `stage_json_file` already ran for this JSON Lines file.
    """
    con.execute(f"create schema if not exists {schema}")
    parse_batch(con, batch, schema, json_staged=json_staged)
    _stage_structure(con, batch, schema)
    columns = ", ".join(ENVELOPE_COLUMNS)
    envelope = con.execute(
        f"select {columns} from {schema}.parsed where parse_reason is null "
        f"and line not in (select line from {schema}.structure)"
    ).pl()
    con.register("env_reasons", envelope_reasons(envelope, now))
    try:
        con.execute(f"create or replace table {schema}.env as select * from env_reasons")
    finally:
        con.unregister("env_reasons")
    # Only the rules of the events this batch holds (its unknown names fail the envelope first).
    named = con.execute(
        f"select distinct event_name from {schema}.parsed where event_name is not null"
    ).fetchall()
    con.execute(judged_sql(name for (name,) in named).replace("{schema}", schema))
    con.execute(_REPEATS_SQL.replace("{schema}", schema))


def use_prepared(con: duckdb.DuckDBPyConnection, schema: str) -> None:
    """Point this connection's temp views `parsed`, `validated` (reason null = valid) and `repeats` at a
    prepared batch."""
    con.execute(f"create or replace temp view parsed as select * from {schema}.parsed")
    con.execute(f"create or replace temp view validated as select * from {schema}.judged")
    con.execute(f"create or replace temp view repeats as select * from {schema}.repeats")


def validate_batch(
    con: duckdb.DuckDBPyConnection, batch: RecordBatch, *, now: datetime, schema: str | None = None
) -> None:
    """Judge every record of a batch on one connection; leaves the temp view `validated`."""
    schema = schema or stage_schema(con)
    prepare_batch(con, batch, now=now, schema=schema)
    use_prepared(con, schema)
