"""Demo-like data for the scoring tests: generated events, ingested and applied (no dbt needed)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import polars as pl
import pytest

from dagster_project.apply.runner import run_apply
from dagster_project.generator import generate
from dagster_project.ingestion.ingest import ingest_paths
from dagster_project.ingestion.readers import list_inbox
from dagster_project.scoring.tables import compute
from dagster_project.warehouse.store import connect, ensure_raw_schema
from tests.shared_homes import built_once

END = datetime(2026, 11, 27, 17, 0, tzinfo=UTC)
AS_OF = END + timedelta(hours=1)


def _build_demo(folder: Path) -> None:
    inbox = folder / "inbox"
    generate(inbox, orgs=1, events=40_000, seed=3, end=END)
    con = connect(folder / "warehouse.duckdb")
    try:
        ensure_raw_schema(con)
        ingest_paths(con, list_inbox(inbox, settle_seconds=0), now=AS_OF)
        run_apply(con, folder / "control.sqlite", now=AS_OF, as_of=AS_OF, worker="test")
    finally:
        con.close()


@pytest.fixture(scope="session")
def demo_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One org's generated history (its outcomes follow generator/outcomes.py), applied as of its end:
    built once per session for every worker (tests/shared_homes.py), so read it only; copy to write."""
    return built_once(tmp_path_factory, "scoring-demo", _build_demo) / "warehouse.duckdb"


@pytest.fixture(scope="session")
def tables(demo_warehouse: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, pl.DataFrame]:
    """`compute` on the demo warehouse: every scoring table's rows, which test_scoring and
    test_patterns both read. Computed once per session (tests/shared_homes.py) and kept as Parquet,
    which gives the same frames back, dtypes and values alike."""

    def build(folder: Path) -> None:
        con = duckdb.connect(str(demo_warehouse), read_only=True)
        try:
            for name, frame in compute(con).items():
                frame.write_parquet(folder / f"{name}.parquet")
        finally:
            con.close()

    folder = built_once(tmp_path_factory, "scoring-demo-tables", build)
    return {path.stem: pl.read_parquet(path) for path in sorted(folder.glob("*.parquet"))}
