"""The lane scheduler on its own: it knows nothing of inbox files, only of preparing and storing."""

from __future__ import annotations

import threading

import duckdb
import pytest

from dagster_project.ingestion.lanes import (
    ENV_FILES_IN_FLIGHT,
    LaneWork,
    _Schedule,
    files_in_flight,
    run_lanes,
)


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


def _prepared_before_first_store(schedule: _Schedule) -> int:
    """How many files the schedule hands out for preparation before any of them is stored."""
    taken = 0
    while (job := schedule._job()) is not None and job[0] == "prepare":
        taken += 1
    return taken


@pytest.mark.parametrize("setting", ["1", "2", "5"])
def test_the_files_in_flight_setting_bounds_the_files_prepared_and_not_yet_stored(
    monkeypatch: pytest.MonkeyPatch, setting: str
) -> None:
    monkeypatch.setenv(ENV_FILES_IN_FLIGHT, setting)
    schedule = _Schedule([f"f{i}" for i in range(8)], files_in_flight())
    assert _prepared_before_first_store(schedule) == int(setting)
    schedule.prepared(0, "f0@0")
    assert schedule._job() == ("store", 0)
    schedule.take(0)
    schedule.stored(ok=True)
    # one stored: exactly one more file may be taken
    assert schedule._job() == ("prepare", int(setting))
    assert schedule._job() is None


def test_without_the_setting_three_files_are_in_flight(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_FILES_IN_FLIGHT, raising=False)
    assert _prepared_before_first_store(_Schedule([f"f{i}" for i in range(8)], files_in_flight())) == 3


@pytest.mark.parametrize("setting", ["0", "-1", "two", "1.5", "\u00b2", "65"])
def test_a_files_in_flight_setting_that_is_not_a_count_is_refused_with_its_name(
    monkeypatch: pytest.MonkeyPatch, setting: str
) -> None:
    monkeypatch.setenv(ENV_FILES_IN_FLIGHT, setting)
    with pytest.raises(ValueError, match=ENV_FILES_IN_FLIGHT):
        files_in_flight()


def test_with_one_file_in_flight_each_file_is_stored_before_the_next_is_prepared(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(ENV_FILES_IN_FLIGHT, "1")
    lock = threading.Lock()
    events: list[str] = []

    def prepare(name: str, con: duckdb.DuckDBPyConnection, n: int) -> str:
        with lock:
            events.append(f"prepare {name}")
        return name

    def store(con: duckdb.DuckDBPyConnection, prepared: str, name: str) -> str:
        with lock:
            events.append(f"store {name}")
        return name

    files = [f"f{i}" for i in range(5)]
    run_lanes(duckdb.connect(), files, LaneWork(prepare, store, lambda con, n: None))
    assert events == [step for name in files for step in (f"prepare {name}", f"store {name}")]
