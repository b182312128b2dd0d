"""Stage 2 of validation: the envelope rules (ids, org, timestamps, event names, entity types).

A pandera-on-polars schema over the flat envelope columns stage 1 pulled out (`ENVELOPE_COLUMNS`); every
check is named after the reason code a record breaking it is quarantined with, and a record failing
several gets the first in `ENVELOPE_PRIORITY`.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pandera.polars as pa
import polars as pl

from dagster_project.contract.events import (
    EARLIEST_TIMESTAMP,
    ENTITY_TYPES,
    EVENTS,
    FUTURE_TOLERANCE_SECONDS,
    LATEST_TIMESTAMP,
    MAX_ID_LENGTH,
    ORG_ID_PATTERN,
    Reason,
)
from dagster_project.ingestion.parsing import STRING_FIELDS

ENVELOPE_COLUMNS = (
    "line",
    "event_id",
    "org_id",
    "event_name",
    "entity_type",
    "entity_id",
    "actor",
    "t_event_id",
    "t_org_id",
    "t_occurred_at",
    "t_event_name",
    "t_entity_type",
    "t_entity_id",
    "t_actor",
    "t_payload",
    "ts_has_offset",
    "ts_naive",
    "occurred_at",
)


# -- stage 2: the envelope, with pandera ------------------------------------------------------


def _flag(expr: pl.Expr):  # noqa: ANN202 - pandera check callables
    return lambda data: data.lazyframe.select(expr.fill_null(True).alias("ok"))


def _present(field: str) -> pl.Expr:
    return pl.col(f"t_{field}").is_not_null() & (pl.col(f"t_{field}") != "NULL")


def envelope_schema(now: datetime) -> pa.DataFrameSchema:
    """The envelope rules as a pandera schema; every check's name is the quarantine reason code."""
    latest = now + timedelta(seconds=FUTURE_TOLERANCE_SECONDS)
    required = (*STRING_FIELDS, "payload")
    all_present = pl.all_horizontal([_present(f) for f in required])
    strings_ok = pl.all_horizontal([pl.col(f"t_{f}") == "VARCHAR" for f in STRING_FIELDS])
    actor_ok = pl.col("t_actor").is_null() | pl.col("t_actor").is_in(["VARCHAR", "NULL"])
    payload_ok = pl.col("t_payload") == "OBJECT"
    pairs = [(name, et) for name, spec in EVENTS.items() for et in spec.entity_types]
    pair_ok = pl.concat_str(["event_name", "entity_type"], separator="\x1f").is_in(
        [f"{name}\x1f{et}" for name, et in pairs]
    )
    return pa.DataFrameSchema(
        {
            "event_id": pa.Column(
                pl.String,
                nullable=True,
                checks=pa.Check(
                    _flag(pl.col("event_id").str.len_chars().is_between(1, MAX_ID_LENGTH)), name=Reason.BAD_ID
                ),
            ),
            "entity_id": pa.Column(
                pl.String,
                nullable=True,
                checks=pa.Check(
                    _flag(pl.col("entity_id").str.len_chars().is_between(1, MAX_ID_LENGTH)),
                    name=Reason.BAD_ID,
                ),
            ),
            "org_id": pa.Column(
                pl.String,
                nullable=True,
                checks=pa.Check(_flag(pl.col("org_id").str.contains(ORG_ID_PATTERN)), name=Reason.BAD_ORG_ID),
            ),
            "event_name": pa.Column(
                pl.String,
                nullable=True,
                checks=pa.Check(_flag(pl.col("event_name").is_in(list(EVENTS))), name=Reason.UNKNOWN_EVENT),
            ),
            "entity_type": pa.Column(
                pl.String,
                nullable=True,
                checks=pa.Check(
                    _flag(pl.col("entity_type").is_in(list(ENTITY_TYPES))), name=Reason.ENTITY_TYPE_MISMATCH
                ),
            ),
        },
        checks=[
            pa.Check(_flag(all_present), name=Reason.MISSING_FIELD),
            pa.Check(_flag(~all_present | (strings_ok & actor_ok & payload_ok)), name=Reason.WRONG_TYPE),
            pa.Check(
                _flag(~pl.col("event_name").is_in(list(EVENTS)) | pair_ok), name=Reason.ENTITY_TYPE_MISMATCH
            ),
            pa.Check(_flag(pl.col("ts_has_offset") | ~pl.col("ts_naive")), name=Reason.NAIVE_TIMESTAMP),
            pa.Check(
                _flag(pl.col("ts_naive") | (pl.col("ts_has_offset") & pl.col("occurred_at").is_not_null())),
                name=Reason.BAD_TIMESTAMP,
            ),
            pa.Check(
                _flag(pl.col("occurred_at").is_null() | (pl.col("occurred_at") <= pl.lit(latest))),
                name=Reason.FUTURE_TIMESTAMP,
            ),
        ],
    )


ENVELOPE_PRIORITY: tuple[str, ...] = (
    Reason.MISSING_FIELD,
    Reason.WRONG_TYPE,
    Reason.BAD_ID,
    Reason.BAD_ORG_ID,
    Reason.UNKNOWN_EVENT,
    Reason.ENTITY_TYPE_MISMATCH,
    Reason.NAIVE_TIMESTAMP,
    Reason.BAD_TIMESTAMP,
    Reason.FUTURE_TIMESTAMP,
)

_DETAILS = {
    Reason.MISSING_FIELD: "an envelope field is missing or null",
    Reason.WRONG_TYPE: "an envelope field has the wrong JSON type (ids and names are strings, payload an object)",
    Reason.BAD_ID: f"event_id / entity_id must be 1-{MAX_ID_LENGTH} characters",
    Reason.BAD_ORG_ID: f"org_id must match {ORG_ID_PATTERN}",
    Reason.UNKNOWN_EVENT: "event_name is not in the contract",
    Reason.ENTITY_TYPE_MISMATCH: "entity_type does not match the event name",
    Reason.NAIVE_TIMESTAMP: "occurred_at has no UTC offset",
    Reason.BAD_TIMESTAMP: "occurred_at is not an RFC 3339 timestamp, or its UTC value is outside "
    f"{EARLIEST_TIMESTAMP.isoformat()} - {LATEST_TIMESTAMP.isoformat()}",
    Reason.FUTURE_TIMESTAMP: f"occurred_at is more than {FUTURE_TOLERANCE_SECONDS // 60} minutes after the ingest clock",
}


def load_validators() -> None:
    """Load pandera's polars backends on the calling thread.

    pandera imports its backends on the first `validate`; when that first call comes from an ingest lane
    thread, the import (and any import hook compiling modules on the way, like pytest's assertion
    rewriting) runs in that thread, where CPython 3.11's AST constructor can fail with "recursion depth
    mismatch". One empty validation on the main thread does the import once, before the lanes start.
    """
    pa.DataFrameSchema({}).validate(pl.DataFrame())


def envelope_reasons(parsed: pl.DataFrame, now: datetime) -> pl.DataFrame:
    """One (line, reason, detail) per record of the envelope frame that fails the envelope schema."""
    candidates = parsed
    if candidates.is_empty():
        return pl.DataFrame(schema={"line": pl.Int64, "reason": pl.String, "detail": pl.String})
    try:
        envelope_schema(now).validate(candidates, lazy=True)
        return pl.DataFrame(schema={"line": pl.Int64, "reason": pl.String, "detail": pl.String})
    except pa.errors.SchemaErrors as errors:
        failures = errors.failure_cases
    schema_level = failures.filter(pl.col("index").is_null())
    if not schema_level.is_empty():  # a dtype problem is a bug in stage 1, not bad input
        raise RuntimeError(f"envelope frame has the wrong shape: {schema_level}")
    rank = {reason: i for i, reason in enumerate(ENVELOPE_PRIORITY)}
    first = (
        failures.select(
            pl.col("index").cast(pl.Int64),
            pl.col("check").alias("reason"),
            pl.col("check").replace_strict(rank, default=len(rank)).alias("rank"),
        )
        .sort("index", "rank")
        .unique("index", keep="first", maintain_order=True)
    )
    lines = (
        candidates.select(pl.col("line")).with_row_index("index").with_columns(pl.col("index").cast(pl.Int64))
    )
    return first.join(lines, on="index").select(
        "line", "reason", pl.col("reason").replace_strict(_DETAILS, default="").alias("detail")
    )
