"""Shared fixtures for the lifecycle tests."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from dagster_project.ingestion.ingest import ingest_paths
from dagster_project.ingestion.readers import list_inbox
from dagster_project.warehouse.store import connect, ensure_raw_schema

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "sample"
INGEST_NOW = datetime(2030, 1, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def sample_warehouse(tmp_path_factory) -> Path:
    """The bundled sample inbox ingested once per module; tests copy it before they apply."""
    folder = tmp_path_factory.mktemp("sample")
    inbox = folder / "inbox"
    shutil.copytree(SAMPLE, inbox)
    path = folder / "warehouse.duckdb"
    con = connect(path)
    ensure_raw_schema(con)
    ingest_paths(con, list_inbox(inbox), now=INGEST_NOW)
    con.close()
    return path
