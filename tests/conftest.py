"""Shared fixtures: a fixed ingest clock and a warehouse in a temporary folder."""

from __future__ import annotations

import gc
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


def _runs_the_app_in_process(item: pytest.Item) -> bool:
    module = getattr(item, "module", None)
    return module is not None and (
        "streamlit" in item.path.parts or getattr(module, "AppTest", None) is not None
    )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item):
    """No automatic garbage collection while a test runs the app in this process (Streamlit's AppTest).

    AppTest runs the page scripts in a thread of its own, and Streamlit parses each page with `ast.parse`.
    A collection that starts inside that parse can finalize an object another test left behind; when that
    is a SQLite connection of SQLAlchemy's (a Dagster instance's storage) made in the main thread, its
    close fails, SQLAlchemy logs the error with a traceback, and formatting a traceback parses source
    again. On Python 3.11.7 (CPython gh-106905, fixed in later releases) that nested parse corrupts the
    outer one's depth count: the page fails with "AST constructor recursion depth mismatch". The garbage
    is collected once the test is over, in the main thread."""
    if not _runs_the_app_in_process(item) or not gc.isenabled():
        return (yield)
    gc.disable()
    try:
        return (yield)
    finally:
        gc.enable()


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
