"""The envelope's pandera schema judges only the records its rules' expressions flag, with the same result
as pandera over the whole batch."""

from __future__ import annotations

from datetime import UTC, datetime

import pandera.polars as pa
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dagster_project.contract.events import EVENTS
from dagster_project.ingestion import envelope
from dagster_project.ingestion.envelope import ENVELOPE_PRIORITY, envelope_reasons, envelope_schema

NOW = datetime(2026, 11, 28, tzinfo=UTC)
KINDS = [None, "VARCHAR", "NULL", "BIGINT", "OBJECT", "ARRAY"]
EVENT = sorted(EVENTS)[0]
ENTITY = sorted(EVENTS[EVENT].entity_types)[0]


def _frame(rows: list[dict]) -> pl.DataFrame:
    schema = {
        "line": pl.Int64,
        **{f: pl.String for f in ("event_id", "org_id", "event_name", "entity_type", "entity_id", "actor")},
        **{
            f"t_{f}": pl.String
            for f in (
                "event_id",
                "org_id",
                "occurred_at",
                "event_name",
                "entity_type",
                "entity_id",
                "actor",
                "payload",
            )
        },
        "ts_has_offset": pl.Boolean,
        "ts_naive": pl.Boolean,
        "occurred_at": pl.Datetime("us", "UTC"),
    }
    return pl.DataFrame(rows, schema=schema, orient="row")


def _valid(line: int) -> dict:
    return {
        "line": line,
        "event_id": f"e{line}",
        "org_id": "acme",
        "event_name": EVENT,
        "entity_type": ENTITY,
        "entity_id": "x1",
        "actor": "a@acme.com",
        **{
            f"t_{f}": "VARCHAR"
            for f in ("event_id", "org_id", "occurred_at", "event_name", "entity_type", "entity_id", "actor")
        },
        "t_payload": "OBJECT",
        "ts_has_offset": True,
        "ts_naive": False,
        "occurred_at": datetime(2026, 10, 5, tzinfo=UTC),
    }


def _whole_batch_reasons(frame: pl.DataFrame) -> pl.DataFrame:
    """The reasons as pandera gives them when it is handed every record (how the ingest judged before)."""
    try:
        envelope_schema(NOW).validate(frame, lazy=True)
        return pl.DataFrame(schema={"line": pl.Int64, "reason": pl.String})
    except pa.errors.SchemaErrors as errors:
        failures = errors.failure_cases
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
    lines = frame.select("line").with_row_index("index").with_columns(pl.col("index").cast(pl.Int64))
    return first.join(lines, on="index").select("line", "reason")


_text = st.one_of(
    st.none(),
    st.sampled_from(["", "acme", "Acme Corp!", "x" * 129, EVENT, ENTITY, "planet", "signal.exploded"]),
)
_field = st.fixed_dictionaries(
    {
        "event_id": _text,
        "org_id": _text,
        "event_name": _text,
        "entity_type": _text,
        "entity_id": _text,
        "actor": _text,
        **{
            f"t_{f}": st.sampled_from(KINDS)
            for f in (
                "event_id",
                "org_id",
                "occurred_at",
                "event_name",
                "entity_type",
                "entity_id",
                "actor",
                "payload",
            )
        },
        "ts_has_offset": st.booleans(),
        "ts_naive": st.booleans(),
        "occurred_at": st.one_of(
            st.none(), st.sampled_from([datetime(2026, 10, 5, tzinfo=UTC), datetime(2099, 1, 1, tzinfo=UTC)])
        ),
    }
)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(_field, st.just(None)), max_size=30))
def test_screened_envelope_reasons_equal_pandera_over_the_whole_batch(rows: list[dict | None]) -> None:
    # None: a valid record, so batches mix valid records with broken ones as real files do
    frame = _frame([_valid(n) if row is None else {"line": n, **row} for n, row in enumerate(rows, start=1)])
    screened = envelope_reasons(frame, NOW).select("line", "reason").sort("line")
    assert screened.to_dicts() == _whole_batch_reasons(frame).sort("line").to_dicts()


def test_pandera_is_handed_only_the_records_that_break_an_envelope_rule(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    heights: list[int] = []
    schema = envelope_schema(NOW)
    validate = schema.validate

    def counting(frame: pl.DataFrame, *args: object, **kwargs: object) -> pl.DataFrame:
        heights.append(frame.height)
        return validate(frame, *args, **kwargs)

    monkeypatch.setattr(schema, "validate", counting)
    monkeypatch.setattr(envelope, "envelope_schema", lambda now: schema)
    broken = {**_valid(3), "org_id": "Acme Corp!"}
    frame = _frame([_valid(1), _valid(2), broken, _valid(4)])
    reasons = envelope_reasons(frame, NOW)
    assert reasons.select("line", "reason").to_dicts() == [{"line": 3, "reason": "bad_org_id"}]
    assert heights == [1]


def test_a_batch_with_no_broken_record_still_has_its_column_types_checked() -> None:
    frame = _frame([_valid(1)]).with_columns(pl.col("event_id").cast(pl.Categorical))
    with pytest.raises(RuntimeError, match="wrong shape"):
        envelope_reasons(frame, NOW)
