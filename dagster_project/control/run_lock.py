"""One pipeline run per home at a time, whoever starts it.

Under `workstream serve` Dagster's queue (one writer run at a time) orders the runs the sensors launch, but
`workstream run` executes its jobs in its own process, outside that queue: started while a sensor's
run is going, both would ingest, apply and publish over each other. Both therefore hold this lock for
the whole run (the CLI across its build and its tests; the daemon's in-process launcher around each
run). It is an OS file lock, released when its process dies, so a killed run never leaves it held.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout


def run_lock_path(home: Path) -> Path:
    return home / ".run.lock"


@contextmanager
def run_lock(home: Path, *, on_wait: Callable[[], None] | None = None) -> Iterator[None]:
    """Hold the home's run lock; `on_wait` is called once if another run holds it (then wait)."""
    home.mkdir(parents=True, exist_ok=True)
    # A lock object per call: each holds its own descriptor, so two threads of one process (the
    # daemon's runs) exclude each other like two processes do.
    lock = FileLock(run_lock_path(home), thread_local=False)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        if on_wait is not None:
            on_wait()
        lock.acquire()
    try:
        yield
    finally:
        lock.release()
