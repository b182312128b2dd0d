"""Test snapshots built on the real served schema: each marts table from its dbt model's contract.

The dashboard and API tests write small hand-made snapshots. Their tables are not declared here: a
table that is a dbt model is created from the model's contracted columns in dbt's manifest
(`dbt/target/manifest.json`, written by `make install`), in the model's column order and types, and the
hand-made rows are inserted by column name. A row naming a column the model lacks, or leaving out (or
null) a column the model's tests declare `not_null`, fails the build loudly, so a column renamed in dbt
cannot leave the tests green on a snapshot the pipeline never produces.

Every served table is a dbt model except two the publish step writes itself: the search index, built
by the pipeline's own `build_index`, and `snapshot_info` (the file's identity), declared inline in the
publish step's SQL, so `PYTHON_WRITTEN` spells it out.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import duckdb

MANIFEST = Path(__file__).resolve().parents[1] / "dbt" / "target" / "manifest.json"
SCHEMA = "marts"

# Written by serving/publish.py in inline SQL: name -> (column, type).
PYTHON_WRITTEN: dict[str, tuple[tuple[str, str], ...]] = {
    "snapshot_info": (
        ("snapshot_version", "varchar"),
        ("built_at", "timestamp with time zone"),
        ("published_at", "timestamp with time zone"),
        ("events", "bigint"),
    ),
}


class FixtureSchemaError(AssertionError):
    """A hand-made row does not fit the served table it is written to."""


@dataclass(frozen=True)
class TableSchema:
    name: str
    columns: tuple[tuple[str, str], ...]  # (name, type) in table order
    not_null: frozenset[str]
    model: bool  # a dbt model (else written in Python)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c for c, _ in self.columns)


@cache
def manifest() -> dict[str, Any]:
    if not MANIFEST.exists():
        raise FixtureSchemaError(f"{MANIFEST} is missing: run `make install` (it runs `dbt parse`)")
    return json.loads(MANIFEST.read_text())


@cache
def served_models() -> dict[str, TableSchema]:
    """Every contracted model in the `marts` schema: its columns and the columns tested `not_null`."""
    nodes = manifest()["nodes"].values()
    not_null: dict[str, set[str]] = {}
    for node in nodes:
        if node["resource_type"] == "test" and node.get("test_metadata", {}).get("name") == "not_null":
            not_null.setdefault(node.get("attached_node") or "", set()).add(node["column_name"])
    models = {}
    for node in nodes:
        if node["resource_type"] != "model" or node["schema"] != SCHEMA:
            continue
        if not node["config"].get("contract", {}).get("enforced"):
            continue
        columns = tuple((c["name"], c["data_type"]) for c in node["columns"].values())
        models[node["name"]] = TableSchema(
            node["name"], columns, frozenset(not_null.get(node["unique_id"], ())), model=True
        )
    return models


def table_schema(name: str) -> TableSchema:
    """The served table `name`: its dbt model if there is one, else the pipeline's Python declaration."""
    models = served_models()
    if name in models:
        return models[name]
    if name in PYTHON_WRITTEN:
        return TableSchema(name, PYTHON_WRITTEN[name], frozenset(), model=False)
    raise FixtureSchemaError(f"marts.{name} is neither a contracted dbt model nor written by the pipeline")


def create_tables(con: duckdb.DuckDBPyConnection, names: Iterable[str]) -> None:
    """`create schema marts` and each table as the pipeline serves it."""
    con.execute(f"create schema if not exists {SCHEMA}")
    for name in names:
        spec = table_schema(name)
        columns = ", ".join(f'"{c}" {kind}' for c, kind in spec.columns)
        con.execute(f"create table {SCHEMA}.{name} ({columns})")


def insert_rows(
    con: duckdb.DuckDBPyConnection,
    name: str,
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    fill: Mapping[str, Any] | None = None,
) -> None:
    """Insert `rows` (tuples in `columns` order) into `marts.<name>` by column name.

    `fill` gives a value to every row for columns the tuples leave out (e.g. `built_at`). Raises
    FixtureSchemaError when a column is not the table's, or a `not_null` column is left out or null.
    """
    spec = table_schema(name)
    fill = dict(fill or {})
    named = [*columns, *fill]
    unknown = [c for c in named if c not in spec.names]
    if unknown:
        raise FixtureSchemaError(f"marts.{name} has no column {unknown} (its columns: {list(spec.names)})")
    if len(set(named)) != len(named):
        raise FixtureSchemaError(f"marts.{name}: a column is given twice in {named}")
    omitted = sorted(spec.not_null - set(named))
    if omitted:
        raise FixtureSchemaError(f"marts.{name}: rows leave out not-null column(s) {omitted}")
    values = [(*row, *fill.values()) for row in rows]
    for row in values:
        if len(row) != len(named):
            raise FixtureSchemaError(f"marts.{name}: a row has {len(row)} values for {len(named)} columns")
        nulls = [c for c, v in zip(named, row, strict=True) if v is None and c in spec.not_null]
        if nulls:
            raise FixtureSchemaError(f"marts.{name}: a row has null in not-null column(s) {nulls}: {row}")
    if not values:
        return
    # One multi-row insert per table: a row at a time made every test pay for each snapshot it builds.
    marks = "(" + ", ".join("?" * len(named)) + ")"
    quoted = ", ".join(f'"{c}"' for c in named)
    con.execute(
        f"insert into {SCHEMA}.{name} ({quoted}) values " + ", ".join([marks] * len(values)),
        [v for row in values for v in row],
    )


def served_columns(con: duckdb.DuckDBPyConnection) -> dict[str, tuple[tuple[str, str], ...]]:
    """The (column, type) list of every `marts` table in an open snapshot, as DuckDB reports them."""
    rows = con.execute(
        "select table_name, column_name, lower(data_type) from information_schema.columns "
        "where table_schema = ? order by table_name, ordinal_position",
        [SCHEMA],
    ).fetchall()
    out: dict[str, list[tuple[str, str]]] = {}
    for table, column, kind in rows:
        out.setdefault(table, []).append((column, kind))
    return {t: tuple(c) for t, c in out.items()}


def duckdb_type(con: duckdb.DuckDBPyConnection, declared: str) -> str:
    """How DuckDB names a declared type (`timestamptz` -> `timestamp with time zone`)."""
    con.execute("create or replace temp table _type_probe (x " + declared + ")")
    return con.execute(
        "select lower(data_type) from information_schema.columns where table_name = '_type_probe'"
    ).fetchone()[0]
