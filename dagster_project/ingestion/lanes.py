"""The lane scheduler of an ingest run: which file each of two lanes works on, and when.

Two lanes share a run. Each prepares files (the work that needs no log: read, parse, validate) and
stores them (judge against the log and commit, one transaction per file). Stores go one at a time and
in file order: the order decides conflicting duplicates, and the log a file was judged against must
still be the log its transaction appends to. What preparing and storing a file mean is the caller's
(`ingest.ingest_paths`); this module only decides who does what next and shares DuckDB's threads.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from typing import Generic, TypeVar

import duckdb

from dagster_project.warehouse.store import cursor

File = TypeVar("File")
Prepared = TypeVar("Prepared")
Result = TypeVar("Result")


class _ThreadShare:
    """DuckDB's thread count follows the lanes at work: one each while both work, all of them for a
    lane working alone (the other waits for its turn or has run out of files).

    `threads` is a setting of the whole database, so any lane's cursor can change it; DuckDB runs each
    statement on its caller's thread plus `threads - 1` workers.
    """

    def __init__(self, threads: int, lanes: int) -> None:
        self._lock = threading.Lock()
        self._threads = threads
        self._working = lanes

    def _apply(self, con: duckdb.DuckDBPyConnection) -> None:
        con.execute(f"set threads = {max(1, self._threads // max(1, self._working))}")

    def leave(self, con: duckdb.DuckDBPyConnection) -> None:
        """This lane stops working for good."""
        with self._lock:
            self._working -= 1
            self._apply(con)

    @contextmanager
    def paused(self, con: duckdb.DuckDBPyConnection) -> Iterator[None]:
        """This lane waits: the other may use its share meanwhile."""
        self.leave(con)
        try:
            yield
        finally:
            with self._lock:
                self._working += 1
                self._apply(con)


# Files taken for preparation and not yet stored, the one being stored included. Each holds one batch
# (≈ 250k records) in Python and in the stage, so this bounds the ingest's memory; with three, a lane
# whose prepared file must wait for the other's store prepares the next file instead of waiting, with
# two it waits, and one leaves a single lane at work.
ENV_FILES_IN_FLIGHT = "WORKSTREAM_INGEST_FILES_IN_FLIGHT"
DEFAULT_FILES_IN_FLIGHT = 3


def files_in_flight() -> int:
    """How many files an ingest run holds unstored at most (env WORKSTREAM_INGEST_FILES_IN_FLIGHT)."""
    value = os.environ.get(ENV_FILES_IN_FLIGHT, "").strip()
    if not value:
        return DEFAULT_FILES_IN_FLIGHT
    if not (value.isascii() and value.isdigit()) or not 1 <= int(value) <= 64:
        raise ValueError(f"{ENV_FILES_IN_FLIGHT}={value!r}: use a whole number of files from 1 to 64")
    return int(value)


class _Schedule:
    """What each lane does next: store the next file in order once it is prepared (one store at a time,
    in file order: the order decides conflicting duplicates); else prepare the next file while fewer
    than `in_flight` are unstored; else wait. Any lane stores any prepared file (the stage is shared).

    A failed store, or a preparation error raised in its file's turn, ends the schedule: the files
    before it are stored, the ones after it are left for the next run.
    """

    def __init__(self, files: list, in_flight: int = DEFAULT_FILES_IN_FLIGHT) -> None:
        self.files = files
        self._in_flight = in_flight
        self._changed = threading.Condition()
        self._prepared: dict[int, object] = {}
        self._next_prepare = 0
        self._next_store = 0
        self._storing = False
        self._failed = False

    def _job(self) -> tuple[str, int] | None:
        """The next job, taken; None: nothing to do yet (called with the lock held)."""
        if self._failed or self._next_store == len(self.files):
            return "done", -1
        if not self._storing and self._next_store in self._prepared:
            self._storing = True
            return "store", self._next_store
        if self._next_prepare < len(self.files) and self._next_prepare - self._next_store < self._in_flight:
            self._next_prepare += 1
            return "prepare", self._next_prepare - 1
        return None

    def next_job(self, waiting: Callable[[], AbstractContextManager]) -> tuple[str, int]:
        """`("prepare" | "store", n)` or `("done", -1)`; `waiting()` is held while there is none yet."""
        with self._changed:
            job = self._job()
        if job is not None:
            return job
        with waiting(), self._changed:
            while (job := self._job()) is None:
                self._changed.wait()
        return job

    def prepared(self, n: int, read: object) -> None:
        with self._changed:
            self._prepared[n] = read
            self._changed.notify_all()

    def take(self, n: int) -> object:
        with self._changed:
            return self._prepared.pop(n)

    def stored(self, *, ok: bool) -> None:
        with self._changed:
            self._storing = False
            if ok:
                self._next_store += 1
            else:
                self._failed = True
            self._changed.notify_all()

    def abort(self) -> None:
        """A lane died outside a store (an interrupt): the other must not wait for its file."""
        with self._changed:
            self._failed = True
            self._changed.notify_all()

    def unstored(self) -> range:
        """Files taken for preparation and never stored (after a failure): their stages to drop."""
        with self._changed:
            return range(self._next_store, self._next_prepare)


@dataclass
class LaneWork(Generic[File, Prepared, Result]):
    """What a lane does with a file, on the lane's own connection (a cursor of the run's).

    `prepare(file, con, n)`: the file's work that needs no log (n: its place in the run, for a stage of
    its own); an Exception it raises is re-raised in the file's turn to be stored, so every earlier
    file is still stored. `store(con, prepared, file)`: store it, in file order. `discard(con, n)`:
    free what a prepared file held when it is never stored (a failure before its turn).
    """

    prepare: Callable[[File, duckdb.DuckDBPyConnection, int], Prepared]
    store: Callable[[duckdb.DuckDBPyConnection, Prepared, File], Result]
    discard: Callable[[duckdb.DuckDBPyConnection, int], None]


def _lane(
    con: duckdb.DuckDBPyConnection,
    schedule: _Schedule,
    work: LaneWork,
    results: dict[int, object],
    *,
    share: _ThreadShare | None,
) -> None:
    """One of two workers, on its own connection: prepare files and store them in order, as `schedule`
    says. `share`: DuckDB's threads, handed to the other lane while this one waits or is done."""
    lane = cursor(con)
    waiting = (lambda: share.paused(lane)) if share is not None else nullcontext
    try:
        while True:
            job, n = schedule.next_job(waiting)
            if job == "done":
                if share is not None:  # the other lane finishes alone: DuckDB may use this core too
                    share.leave(lane)
                return
            file = schedule.files[n]
            if job == "prepare":
                try:
                    prepared: object = work.prepare(file, lane, n)
                except Exception as exc:  # raised in its turn, so every earlier file is still stored
                    prepared = exc
                schedule.prepared(n, prepared)
                continue
            prepared = schedule.take(n)
            try:
                if isinstance(prepared, BaseException):
                    raise prepared
                results[n] = work.store(lane, prepared, file)
            except BaseException:
                schedule.stored(ok=False)
                raise
            schedule.stored(ok=True)
    except BaseException:
        schedule.abort()
        raise
    finally:
        lane.close()


def run_lanes(
    con: duckdb.DuckDBPyConnection, files: list[File], work: LaneWork[File, Prepared, Result]
) -> dict[int, Result]:
    """Prepare and store `files` on two lanes (one for a single file); the results by file number.

    The next file in order is stored as soon as it is prepared and no store runs, else the next file
    is prepared, so one lane's store overlaps the other's preparation and a lane whose prepared file
    must wait prepares the one after it. DuckDB runs each statement on its caller's thread while both
    lanes work: both cores are busy with the lanes, and its own workers would only wait for a core. A
    lane waiting or out of files hands its share to the other (`_ThreadShare`). At most `files_in_flight()`
    files are unstored at a time (three unless set). A failure ends the run after the files before it are
    stored; it is raised here, once the lanes stopped and unstored files were discarded.
    """
    results: dict[int, Result] = {}
    if not files:
        return results
    lanes = min(2, len(files))
    threads = con.execute("select current_setting('threads')").fetchone()[0]
    schedule = _Schedule(files, files_in_flight())
    share = _ThreadShare(int(threads), lanes) if lanes > 1 else None
    if lanes > 1:
        con.execute("set threads = 1")
    try:
        with ThreadPoolExecutor(max_workers=lanes, thread_name_prefix="ingest-lane") as pool:
            running = [pool.submit(_lane, con, schedule, work, results, share=share) for _ in range(lanes)]
            failures = [f.exception() for f in running if f.exception() is not None]
    finally:
        con.execute(f"set threads = {int(threads)}")
        for n in schedule.unstored():
            work.discard(con, n)
    if failures:
        raise failures[0]
    return results
