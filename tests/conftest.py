"""Shared fixtures: a fixed ingest clock and a warehouse in a temporary folder."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
# argon2 at its cheapest (see dagster_project/access/store.py): the suite hashes many passwords and tokens.
os.environ.setdefault("WORKSTREAM_TEST_CHEAP_HASHES", "1")

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The costliest test files first (tests/ordering.py), for the two workers of `make test`."""
    from tests.ordering import costliest_first, load_costs

    items[:] = costliest_first(items, lambda item: item.nodeid.split("::")[0], load_costs())


@pytest.fixture
def now() -> datetime:
    return NOW


@pytest.fixture
def warehouse(tmp_path: Path):
    from dagster_project.warehouse.store import connect, ensure_raw_schema

    con = connect(tmp_path / "warehouse.duckdb")
    ensure_raw_schema(con)
    yield con
    con.close()


@pytest.fixture(autouse=True)
def _restore_environment():
    """The CLI points the process environment at a home; never let that leak from one test to the next."""
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)
