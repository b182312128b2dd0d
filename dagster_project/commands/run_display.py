"""What `workstream run` shows while it runs: a progress bar per step, the detail in a log file.

A run's detail is hundreds of lines (dagster-dbt echoes every dbt model and test to stdout, Dagster
logs every step event). By default it goes to `<home>/logs/run.log` only, and the console shows a bar
per step, read from the run's own event log (the same events the Dagster UI shows): dbt's build
counts its models, dbt's tests their checks. `--verbose` prints the detail as before, and the log
file still gets it.
"""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Column

# The steps of the pipeline's jobs, in words; any other step shows under its step key.
STEP_LABELS = {
    "raw_ingest": "ingest",
    "lifecycle_apply": "apply",
    "win_scoring": "scoring",
    "workstream_dbt_assets": "dbt",
    "serving_snapshot": "publish",
    "sla_alerts": "alerts",
}
# Events a bar follows: a step's start and end, and the models and tests inside dbt's step.
_WATCHED = ("STEP_START", "STEP_SUCCESS", "STEP_FAILURE", "ASSET_MATERIALIZATION", "ASSET_CHECK_EVALUATION")
_POLL_SECONDS = 0.3


class _Tee:
    """A text stream writing to several (the console and the log file, with --verbose)."""

    def __init__(self, *streams: IO[str]) -> None:
        self._streams = streams

    def write(self, text: str) -> int:
        for stream in self._streams:
            stream.write(text)
        return len(text)

    def flush(self) -> None:
        for stream in self._streams:
            stream.flush()

    def isatty(self) -> bool:
        return False


class RunDisplay:
    """The console side of one `workstream run`: per job, its output to the log (and with `verbose`
    to the console too) and, without `verbose`, a bar per step on `screen`."""

    def __init__(self, log: Path, screen: Console, *, verbose: bool) -> None:
        self.log = log
        self.verbose = verbose
        self.screen = screen

    @contextlib.contextmanager
    def job(self, instance: Any, run_id: str, label: str, step_totals: dict[str, int]) -> Iterator[None]:
        """Around one job's `execute_in_process(run_id=run_id)`. `step_totals`: for steps made of many
        parts (dbt), how many to count; `label` names the job's dbt step ("dbt build", "dbt tests")."""
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("a", encoding="utf-8") as handle:
            handle.write(f"==== {label}: run {run_id}\n")
            handle.flush()
            if self.verbose:
                with (
                    contextlib.redirect_stdout(_Tee(sys.stdout, handle)),
                    contextlib.redirect_stderr(_Tee(sys.stderr, handle)),
                ):
                    yield
                return
            progress = Progress(
                # Fixed widths, so the bars of the build and of the tests (two displays) line up.
                TextColumn("{task.description}", table_column=Column(width=32, no_wrap=True)),
                BarColumn(bar_width=30),
                TextColumn("{task.fields[count]}"),
                TimeElapsedColumn(),
                console=self.screen,
                # Only the display: what the run prints goes to the log file below, not above the bars.
                redirect_stdout=False,
                redirect_stderr=False,
            )
            watcher = _StepWatcher(instance, run_id, progress, label, step_totals)
            with progress, contextlib.redirect_stdout(handle), contextlib.redirect_stderr(handle):
                watcher.start()
                try:
                    yield
                finally:
                    watcher.stop()


class _StepWatcher(threading.Thread):
    """Reads the run's new events from the instance and moves the bars."""

    def __init__(
        self, instance: Any, run_id: str, progress: Progress, label: str, step_totals: dict[str, int]
    ) -> None:
        super().__init__(name=f"progress-{run_id[:8]}", daemon=True)
        self._instance = instance
        self._run_id = run_id
        self._progress = progress
        self._label = label
        self._totals = step_totals
        self._tasks: dict[str, Any] = {}
        self._done: dict[str, int] = {}
        self._cursor: str | None = None
        self._stopping = threading.Event()

    def run(self) -> None:
        while not self._stopping.wait(_POLL_SECONDS):
            self._read()

    def stop(self) -> None:
        self._stopping.set()
        self.join()
        self._read()  # what happened since the last read, so the bars end where the run ended

    def _read(self) -> None:
        """Move the bars; a display must never fail the run it shows, so a read that fails (a locked
        or damaged event log) only leaves the bars where they are, and says so in the log."""
        try:
            self._read_new_events()
        except Exception as exc:  # noqa: BLE001
            print(f"progress display: cannot read the run's events: {exc!r}", file=sys.stderr)
            self._stopping.set()

    def _read_new_events(self) -> None:
        from dagster import DagsterEventType

        kinds = {DagsterEventType[name] for name in _WATCHED}
        while True:
            page = self._instance.get_records_for_run(
                self._run_id, cursor=self._cursor, of_type=kinds, limit=1000
            )
            for record in page.records:
                event = record.event_log_entry.dagster_event
                if event is not None and event.step_key:
                    self._on(event.event_type_value, event.step_key, event.event_specific_data)
            self._cursor = page.cursor
            if not page.has_more:
                return

    def _describe(self, step: str) -> str:
        return self._label if step == "workstream_dbt_assets" else STEP_LABELS.get(step, step)

    def _on(self, kind: str, step: str, data: Any) -> None:
        total = self._totals.get(step)
        if step not in self._tasks:
            self._done[step] = 0
            self._tasks[step] = self._progress.add_task(
                self._describe(step), total=total, count=f"0/{total}" if total else ""
            )
        task = self._tasks[step]
        if kind in ("ASSET_MATERIALIZATION", "ASSET_CHECK_EVALUATION") and total:
            self._done[step] += 1
            self._progress.update(task, completed=self._done[step], count=f"{self._done[step]}/{total}")
        elif kind == "ASSET_CHECK_EVALUATION" and step not in STEP_LABELS:
            # A step of its own for one check: its key joins asset and check names; say which check.
            self._progress.update(task, description=f"check {data.asset_check_key.name}")
        elif kind == "STEP_SUCCESS":
            self._progress.update(task, total=total or 1, completed=total or 1)
        elif kind == "STEP_FAILURE":
            self._progress.update(task, description=f"[red]{self._describe(step)} failed[/red]")
            self._progress.stop_task(task)
