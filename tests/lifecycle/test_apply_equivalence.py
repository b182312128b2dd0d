"""The apply's faster paths give byte-identical core tables to the plain ones they replace.

Generated histories (several seeds, with bad lines, rejections, late events and config changes) and
the bundled sample are applied twice from the same ingested log: once as the apply runs, once with the
straightforward reference (`pl.from_dicts` for the frames), and every column of every core table must
match.
"""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from dagster_project.apply import batch, rows
from dagster_project.apply.batch import apply_batch
from dagster_project.generator.engine import generate
from dagster_project.ingestion.ingest import ingest_paths
from dagster_project.ingestion.readers import list_inbox
from dagster_project.lifecycle.store import CORE, polars_schema
from dagster_project.warehouse.store import connect, ensure_raw_schema

END = datetime(2026, 11, 27, 17, tzinfo=UTC)
NOW = END + timedelta(hours=7)
SAMPLE = Path(__file__).resolve().parents[2] / "data" / "sample"


def _reference_typed(frame_rows, schema):
    return pl.from_dicts(frame_rows, schema=schema)


def _ingested(folder: Path, seed: int | None) -> Path:
    inbox = folder / "inbox"
    if seed is None:
        shutil.copytree(SAMPLE, inbox)
    else:
        generate(inbox, orgs=2, events=1500, seed=seed, bad_rate=0.03, end=END)
    path = folder / "log.duckdb"
    con = connect(path)
    ensure_raw_schema(con)
    ingest_paths(con, list_inbox(inbox, settle_seconds=0), now=NOW)
    con.close()
    return path


def _core_tables(path: Path, batches: int) -> dict[str, list[tuple]]:
    con = connect(path)
    keys = con.execute(
        "select org_id, event_id from raw.events order by occurred_at, org_id, event_id"
    ).fetchall()
    as_of = con.execute("select max(occurred_at) from raw.events").fetchone()[0] - timedelta(days=3)
    size = -(-len(keys) // batches)
    for i in range(0, len(keys), size):
        # Newest first: later batches bring events earlier than what is already folded (late events).
        apply_batch(con, keys[::-1][i : i + size], as_of=as_of, now=NOW)
    tables = {t.name: con.execute(f"select * from core.{t.name} order by all").fetchall() for t in CORE}
    con.close()
    return tables


@pytest.mark.parametrize("seed", [None, 3, 11, 29])
def test_the_arrow_built_frames_give_the_same_core_tables_as_polars_from_dicts(tmp_path, monkeypatch, seed):
    log = _ingested(tmp_path, seed)
    fast, reference = tmp_path / "fast.duckdb", tmp_path / "reference.duckdb"
    shutil.copy(log, fast)
    shutil.copy(log, reference)

    got = _core_tables(fast, batches=3)
    monkeypatch.setattr(rows, "_typed", _reference_typed)
    want = _core_tables(reference, batches=3)

    assert got == want
    assert got["event_outcomes"] and got["transitions"] and got["memory_atoms"]
    assert got["rejected_events"]


@pytest.mark.parametrize("seed", [None, 3, 11, 29])
def test_notes_classified_for_the_whole_batch_give_the_same_core_tables_as_one_by_one(
    tmp_path, monkeypatch, seed
):
    log = _ingested(tmp_path, seed)
    batched, one_by_one = tmp_path / "batched.duckdb", tmp_path / "one_by_one.duckdb"
    shutil.copy(log, batched)
    shutil.copy(log, one_by_one)

    got = _core_tables(batched, batches=3)
    monkeypatch.setattr(batch, "classify_notes", lambda *args, **kwargs: {})  # each note in its capture
    want = _core_tables(one_by_one, batches=3)

    assert got == want
    # column 5 is the atom type, 12 the capture rule: some notes were classified as more than notes
    assert {row[5] for row in got["memory_atoms"] if row[12] == "note"} - {"note"}


# Values the fold could hand over from a payload, per column type: each must come out as polars
# `from_dicts` makes it, or fail as it does.
ODD_VALUES = [
    (pl.Utf8, 5),
    (pl.Utf8, True),
    (pl.Utf8, {"a": 1}),
    (pl.Utf8, ["a"]),
    (pl.Int32, 2.7),
    (pl.Int32, -2.7),
    (pl.Int32, True),
    (pl.Int32, "3"),
    (pl.Int32, 2**40),
    (pl.Int32, float("nan")),
    (pl.Int64, 2**70),
    (pl.Float64, 3),
    (pl.Float64, True),
    (pl.Float64, "1.5"),
    (pl.Float64, 2**70),
    (pl.Boolean, 1),
    (pl.Boolean, 1.0),
    (pl.Boolean, "true"),
    (pl.List(pl.Utf8), "ab"),
    (pl.List(pl.Utf8), [1, None]),
    (pl.List(pl.Utf8), [True]),
    (pl.List(pl.Utf8), [["a"]]),
    (pl.List(pl.Utf8), {"a": "b"}),
    (pl.List(pl.Utf8), ("a",)),
    (pl.Date, datetime(2026, 1, 1, 23, tzinfo=UTC)),
    (pl.Datetime("us", "UTC"), datetime(2026, 1, 1)),
]


@pytest.mark.parametrize(("dtype", "value"), ODD_VALUES, ids=repr)
def test_an_odd_value_is_typed_exactly_as_polars_from_dicts_types_it(dtype, value):
    schema = {"x": dtype, "y": pl.Utf8}
    frame_rows = [{"x": value, "y": "a"}, {"x": None, "y": None}]
    try:
        want = pl.from_dicts([dict(r) for r in frame_rows], schema=schema)
    except Exception as exc:
        with pytest.raises(type(exc)):
            rows._typed(frame_rows, schema)
        return
    got = rows._typed(frame_rows, schema)
    assert got.schema == want.schema
    assert got.to_dicts() == want.to_dicts()


def test_every_core_table_schema_round_trips_through_arrow():
    for table in rows.SCHEMAS:
        schema = polars_schema(table)
        assert rows._typed([{}], schema).schema == pl.from_dicts([{}], schema=schema).schema


class _CountingRow(dict):
    """A row that counts the column lookups made on it in Python."""

    lookups = 0

    def get(self, key, default=None):
        type(self).lookups += 1
        return super().get(key, default)


def test_typing_a_frame_looks_up_only_the_list_and_date_columns_of_each_row_in_python():
    """Splitting every row into columns in Python was most of the frame building of a first load."""
    schema = polars_schema("pursuits")
    checked = [n for n, t in schema.items() if isinstance(t, pl.List) or t == pl.Date]
    frame_rows = [_CountingRow(org_id="acme", pursuit_id=f"p{i}", pink_missing=["a"]) for i in range(50)]
    _CountingRow.lookups = 0
    got = rows._typed(frame_rows, schema)
    assert _CountingRow.lookups == len(frame_rows) * len(checked)
    assert got.equals(pl.from_dicts([dict(r) for r in frame_rows], schema=schema))
