"""Each `core` table is declared once (dagster_project/lifecycle/store.py); dbt and the apply follow it.

dbt reads the core tables as sources and stages them with explicit casts; the apply writes them from
polars frames. These tests hold every one of those to the single declaration, read from the files
themselves (not the manifest, which may be older than the yml).
"""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pytest
import yaml

from dagster_project.apply import rows as batch
from dagster_project.lifecycle.store import CORE, CORE_BY_NAME, CORE_DDL, CORE_TABLES, polars_schema

STAGING = Path(__file__).resolve().parents[2] / "dbt" / "models" / "staging" / "lifecycle"
_CAST = re.compile(r"cast\((\w+) as ([\w\[\]]+)\) as (\w+)")


def _sources() -> dict[str, list[str]]:
    doc = yaml.safe_load((STAGING / "_lifecycle__sources.yml").read_text())
    (core,) = [s for s in doc["sources"] if s["name"] == "core"]
    return {t["name"]: [c["name"] for c in t.get("columns", [])] for t in core["tables"]}


def _staged() -> list[str]:
    return sorted(p.stem.removeprefix("stg_lifecycle__") for p in STAGING.glob("stg_lifecycle__*.sql"))


def test_the_dbt_sources_declare_every_core_table_with_its_columns_in_table_order() -> None:
    sources = _sources()
    assert sorted(sources) == sorted(CORE_TABLES)
    for table in CORE:
        assert sources[table.name] == [c.name for c in table.all_columns], table.name


@pytest.mark.parametrize("table", _staged())
def test_each_staging_model_casts_every_declared_column_to_its_declared_type(table: str) -> None:
    casts = _CAST.findall((STAGING / f"stg_lifecycle__{table}.sql").read_text())
    assert all(source == target for source, _, target in casts)  # staging types, never renames
    # A staging model may keep the apply's `cluster_id` (the incremental models rebuild by it).
    declared = CORE_BY_NAME[table]
    assert sorted((name, kind) for name, kind, _ in casts) in (
        sorted((c.name, c.type) for c in declared.columns),
        sorted((c.name, c.type) for c in declared.all_columns),
    )


def test_each_staging_model_documents_exactly_the_declared_columns() -> None:
    doc = yaml.safe_load((STAGING / "_lifecycle__models.yml").read_text())
    documented = {
        m["name"].removeprefix("stg_lifecycle__"): {c["name"] for c in m["columns"]} for m in doc["models"]
    }
    assert sorted(documented) == _staged()
    for table, columns in documented.items():
        declared = CORE_BY_NAME[table]
        assert columns in ({c.name for c in declared.columns}, {c.name for c in declared.all_columns}), table


def test_the_apply_writes_rows_with_the_declared_schemas() -> None:
    assert {t: polars_schema(t) for t in batch.SCHEMAS} == batch.SCHEMAS
    assert all(list(polars_schema(t)) == list(s) for t, s in batch.SCHEMAS.items())
    assert list(batch.SCHEMAS) == [t.name for t in CORE if t.clustered]
    assert polars_schema("config_registry") == batch.CONFIG_SCHEMA


def test_the_generated_ddl_creates_each_table_as_declared() -> None:
    with duckdb.connect() as con:
        con.execute(CORE_DDL)
        rows = con.execute(
            "select table_name, column_name, data_type, is_nullable = 'NO' from information_schema.columns "
            "where table_schema = 'core' order by table_name, ordinal_position"
        ).fetchall()
        probe = {
            kind: con.execute(f"select typeof(null::{kind})").fetchone()[0]
            for kind in {c.type for t in CORE for c in t.all_columns}
        }
    expected = sorted(
        (t.name, i, c.name, probe[c.type], c.not_null) for t in CORE for i, c in enumerate(t.all_columns)
    )
    got = sorted(
        (table, i, column, kind, not_null)
        for table in CORE_TABLES
        for i, (t, column, kind, not_null) in enumerate(r for r in rows if r[0] == table)
    )
    assert got == expected


def test_the_dbt_core_fixture_fills_cluster_id_for_every_clustered_table() -> None:
    from core_fixture import create_core_tables, insert_core_rows

    atom = {
        "org_id": "acme", "atom_id": "m-1", "entity_type": "client", "entity_id": "c-1", "atom_type": "note",
        "content": "Prefers email", "source": "note", "trust_weight": 1.0,
        "occurred_at": "2026-11-01T00:00:00+00:00", "expires_explicit": False, "content_hash": "h",
        "version": 1, "event_id": "e-1",
    }  # fmt: skip
    with duckdb.connect() as con:
        create_core_tables(con)
        assert insert_core_rows(con, "memory_atoms", [atom]) == 1
        assert con.execute("select cluster_id from core.memory_atoms").fetchall() == [("cluster-fixture",)]
