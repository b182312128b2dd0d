"""Homes built once per test session and shared by every pytest-xdist worker.

A pipeline run is the suite's dearest step, and some test files build the very same home (the same
inbox, clock and as-of). Such a home is built here once per session, whichever worker asks first,
under a file lock in the folder the workers' temporary folders share; the others wait for it and then
read it. A shared home is read-only: a test that writes (users, tokens, a swapped snapshot) works on
its own copy (`copy_home`).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from filelock import FileLock

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"
SAMPLE_NOW = "2026-11-28T12:00:00+00:00"
# Generated two-org data up to `GENERATED_END`, and a moment well inside its span.
GENERATED_END = "2026-11-27T17:00:00+00:00"
GENERATED_PAST = "2026-10-15T00:00:00+00:00"


def _session_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder every worker of this session sees: the parent of a worker's base folder, or the
    base folder itself without xdist (its parent holds other sessions' folders)."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def built_once(tmp_path_factory: pytest.TempPathFactory, name: str, build: Callable[[Path], None]) -> Path:
    """The folder `name`, filled by `build(folder)` by the first worker of the session that asks."""
    root = _session_root(tmp_path_factory) / "shared-homes"
    root.mkdir(exist_ok=True)
    folder, done = root / name, root / f"{name}.done"
    with FileLock(str(root / f"{name}.lock")):
        if not done.exists():
            # A build that failed part-way leaves a folder behind: the next asker starts it afresh.
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            build(folder)
            done.touch()
    return folder


def copy_home(home: Path, to: Path) -> Path:
    """A private copy of a shared home, for a test (or a module's fixture) that writes to it."""
    shutil.copytree(home, to, symlinks=True)
    return to


def _build_sample(folder: Path) -> None:
    inbox = folder / "inbox"
    shutil.copytree(SAMPLE, inbox)
    for path in inbox.iterdir():  # files modified in the last seconds count as still being written
        os.utime(path, (1_700_000_000, 1_700_000_000))
    run_in_memory(folder / "home", inbox, now=SAMPLE_NOW, tests=False)


def sample_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled sample (two orgs) run through the pipeline once, as of its clock `SAMPLE_NOW`."""
    return built_once(tmp_path_factory, "sample", _build_sample) / "home"


def _build_generated(folder: Path) -> None:
    from datetime import datetime

    from dagster_project.generator import generate

    inbox = folder / "inbox"
    generate(inbox, orgs=2, events=2500, seed=5, bad_rate=0.02, end=datetime.fromisoformat(GENERATED_END))
    for path in inbox.iterdir():
        os.utime(path, (1_700_000_000, 1_700_000_000))


def generated_inbox(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Generated two-org data (bad lines included) ending at `GENERATED_END`; read-only."""
    return built_once(tmp_path_factory, "generated", _build_generated) / "inbox"


def generated_past_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`generated_inbox` run through the pipeline once as of `GENERATED_PAST` (its clock `SAMPLE_NOW`):
    a home built as of a past moment, holding only part of its inbox."""
    inbox = generated_inbox(tmp_path_factory)

    def build(folder: Path) -> None:
        run_in_memory(folder / "home", inbox, as_of=GENERATED_PAST, now=SAMPLE_NOW, tests=False)

    return built_once(tmp_path_factory, "generated-past", build) / "home"


def run_in_memory(home: Path, inbox: Path, **kwargs) -> dict:
    """`run_pipeline` with the run history in memory (Dagster's ephemeral instance): the same jobs, assets
    and files in the home, without the SQLite event log, whose writes are a good part of a small run's cost
    (benchmarks/README.md). For tests of what a run builds; the CLI's tests run in the home's own instance,
    whose history `dagster dev` shows."""
    import dagster as dg

    from dagster_project.commands.run import run_pipeline

    with dg.DagsterInstance.ephemeral() as instance:
        return run_pipeline(home, inbox, instance=instance, **kwargs)
