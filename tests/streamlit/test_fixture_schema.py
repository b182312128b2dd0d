"""The dashboard's fixture snapshot has the schema the pipeline serves (dbt's contracted marts models)."""

from __future__ import annotations

import duckdb
import pytest
from snapshot_fixture import BUILT_AT, build_snapshot

from tests.snapshot_schema import (
    PYTHON_WRITTEN,
    FixtureSchemaError,
    create_tables,
    duckdb_type,
    insert_rows,
    served_columns,
    served_models,
)


@pytest.fixture(scope="module")
def fixture_tables(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[tuple[str, str], ...]]:
    path = build_snapshot(tmp_path_factory.mktemp("schema") / "serving.duckdb")
    with duckdb.connect(str(path), read_only=True) as con:
        return served_columns(con)


def test_every_fixture_table_that_is_a_dbt_model_has_the_models_columns_and_types(fixture_tables) -> None:
    models = served_models()
    checked = 0
    with duckdb.connect() as con:
        for table, columns in fixture_tables.items():
            if table not in models:
                continue
            expected = tuple((c, duckdb_type(con, kind)) for c, kind in models[table].columns)
            assert columns == expected, table
            checked += 1
    assert checked >= 20  # the lifecycle, work, funnel, ingest and memory marts all come from dbt


def test_every_fixture_table_is_a_dbt_model_or_written_by_the_pipeline_in_python(fixture_tables) -> None:
    search_index = {t for t in fixture_tables if t.startswith("memory_search")}  # build_index's own tables
    strays = set(fixture_tables) - set(served_models()) - set(PYTHON_WRITTEN) - search_index
    assert strays == set()


def test_a_table_written_in_python_is_only_declared_here_until_dbt_models_it() -> None:
    now_models = set(PYTHON_WRITTEN) & set(served_models())
    assert not now_models, f"{sorted(now_models)} are dbt models now: drop them from PYTHON_WRITTEN"


def _memory_atoms(con: duckdb.DuckDBPyConnection) -> None:
    create_tables(con, ["memory_atoms"])


FULL_ATOM = {
    "org_id": "acme",
    "atom_id": "m-1",
    "entity_type": "client",
    "entity_id": "c-1",
    "atom_type": "note",
    "content": "Prefers email",
    "source": "note",
    "trust_weight": 1.0,
    "occurred_at": BUILT_AT,
    "expires_at": BUILT_AT,
    "version": 1,
    "score": 60.0,
    "relevance": 60.0,
    "base_score": 60.0,
    "age_days": 0.0,
    "half_life_days": 30.0,
    "decay_factor": 1.0,
    "pinned": False,
    "built_at": BUILT_AT,
}


def test_a_row_with_every_not_null_column_goes_in_by_column_name() -> None:
    with duckdb.connect() as con:
        _memory_atoms(con)
        insert_rows(con, "memory_atoms", list(FULL_ATOM), [tuple(FULL_ATOM.values())])
        assert con.execute("select atom_id, client_id from marts.memory_atoms").fetchall() == [("m-1", None)]


def test_a_row_naming_a_column_the_model_lacks_fails_loudly() -> None:
    row = {**FULL_ATOM, "atom_kind": "note"}
    with duckdb.connect() as con, pytest.raises(FixtureSchemaError, match="has no column \\['atom_kind'\\]"):
        _memory_atoms(con)
        insert_rows(con, "memory_atoms", list(row), [tuple(row.values())])


def test_a_row_leaving_out_a_not_null_column_fails_loudly() -> None:
    row = {k: v for k, v in FULL_ATOM.items() if k != "content"}
    with (
        duckdb.connect() as con,
        pytest.raises(FixtureSchemaError, match="not-null column\\(s\\) \\['content'\\]"),
    ):
        _memory_atoms(con)
        insert_rows(con, "memory_atoms", list(row), [tuple(row.values())])


def test_a_null_in_a_not_null_column_fails_loudly() -> None:
    row = {**FULL_ATOM, "source": None}
    with (
        duckdb.connect() as con,
        pytest.raises(FixtureSchemaError, match="null in not-null column\\(s\\) \\['source'\\]"),
    ):
        _memory_atoms(con)
        insert_rows(con, "memory_atoms", list(row), [tuple(row.values())])
