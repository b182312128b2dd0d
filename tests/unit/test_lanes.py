"""The lane scheduler on its own: it knows nothing of inbox files, only of preparing and storing."""

from __future__ import annotations

import threading

import duckdb
import pytest

from dagster_project.ingestion.lanes import LaneWork, run_lanes


class StoreFailed(Exception):
    pass


def _work(stored: list[str], discarded: list[int], *, fail_at: str | None = None) -> LaneWork:
    lock = threading.Lock()

    def prepare(name: str, con: duckdb.DuckDBPyConnection, n: int) -> str:
        return f"{name}@{n}"

    def store(con: duckdb.DuckDBPyConnection, prepared: str, name: str) -> str:
        if name == fail_at:
            raise StoreFailed(name)
        with lock:
            stored.append(name)
        return prepared.upper()

    def discard(con: duckdb.DuckDBPyConnection, n: int) -> None:
        discarded.append(n)

    return LaneWork(prepare, store, discard)


def test_every_file_is_stored_in_file_order_and_its_result_kept_by_number() -> None:
    con = duckdb.connect()
    stored: list[str] = []
    discarded: list[int] = []
    files = [f"f{i}" for i in range(7)]
    results = run_lanes(con, files, _work(stored, discarded))
    assert stored == files
    assert results == {n: f"{name}@{n}".upper() for n, name in enumerate(files)}
    assert discarded == []


def test_a_failed_store_stops_the_run_and_discards_what_was_prepared_after_it() -> None:
    con = duckdb.connect()
    threads = con.execute("select current_setting('threads')").fetchone()
    stored: list[str] = []
    discarded: list[int] = []
    files = [f"f{i}" for i in range(6)]
    with pytest.raises(StoreFailed):
        run_lanes(con, files, _work(stored, discarded, fail_at="f2"))
    assert stored == ["f0", "f1"]
    assert 2 in discarded and all(n >= 2 for n in discarded)
    assert con.execute("select current_setting('threads')").fetchone() == threads


def test_no_files_need_no_lanes() -> None:
    assert run_lanes(duckdb.connect(), [], _work([], [])) == {}
