"""The run's as-of is stored once: `core.run_clock`, written by the apply, read back by it and by dbt."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime

from dagster_project.apply.runner import run_apply
from dagster_project.lifecycle.store import ensure_core_schema
from dagster_project.warehouse.store import connect, read_run_clock

NOW = datetime(2030, 1, 1, tzinfo=UTC)
AS_OF = datetime(2026, 12, 1, tzinfo=UTC)
EARLIER = datetime(2026, 11, 1, tzinfo=UTC)


def _clock_tables(con) -> list[str]:
    return [
        f"{schema}.{name}"
        for schema, name in con.execute(
            "select table_schema, table_name from information_schema.tables "
            "where table_name like '%clock%' or table_name like '%apply_state%' order by all"
        ).fetchall()
    ]


def test_the_apply_stores_the_run_clock_as_the_one_copy_of_the_as_of(sample_warehouse, tmp_path):
    shutil.copy(sample_warehouse, tmp_path / "w.duckdb")
    con = connect(tmp_path / "w.duckdb")
    try:
        run_apply(con, tmp_path / "control.sqlite", now=NOW, as_of=AS_OF, worker="test")
        assert read_run_clock(con) == (AS_OF, NOW)
        assert _clock_tables(con) == ["core.run_clock"]
    finally:
        con.close()


def test_a_warehouse_from_before_the_run_clock_keeps_the_as_of_its_tables_hold(tmp_path):
    con = connect(tmp_path / "w.duckdb")
    try:
        con.execute("create schema core")
        con.execute(
            "create table core.apply_state (as_of timestamptz not null, applied_at timestamptz not null)"
        )
        con.execute("insert into core.apply_state values (?, ?)", [EARLIER, NOW])
        ensure_core_schema(con)
        assert read_run_clock(con) == (EARLIER, NOW)
        assert _clock_tables(con) == ["core.run_clock"]
    finally:
        con.close()
