"""What every command shares: the console its messages go to, and guards on the paths a user gives."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

# Messages go to stderr: stdout stays free for what a command prints as its result (tables, services' logs).
console = Console(stderr=True)


@contextlib.contextmanager
def os_errors_exit_2(doing: str) -> Iterator[None]:
    """A path the user gave that cannot be written (a file where a folder goes, no permission, a full
    disk) ends with what could not be done and why (exit 2), not a traceback."""
    try:
        yield
    except OSError as exc:
        where = f" ({exc.filename})" if exc.filename else ""
        console.print(f"[red]{doing}: {exc.strerror or exc}{where}[/red]", soft_wrap=True)
        raise typer.Exit(2) from exc


def progress() -> Progress:
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:,}"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


@contextlib.contextmanager
def output_to_log(log: Path | None):
    """stdout and stderr appended to `log` within the block (None: left as they are)."""
    if log is None:
        yield
        return
    log.parent.mkdir(parents=True, exist_ok=True)
    with (
        log.open("a", encoding="utf-8") as handle,
        contextlib.redirect_stdout(handle),
        contextlib.redirect_stderr(handle),
    ):
        yield


def check_home(home: Path) -> None:
    """Refuse (exit 2) a home that is a file or cannot be written, before anything is created in it."""
    existing = next((p for p in (home, *home.parents) if p.exists()), None)
    if home.exists() and not home.is_dir():
        problem = "is a file: give a folder (it is created if missing)"
    elif existing is not None and existing.is_dir() and not os.access(existing, os.W_OK | os.X_OK):
        problem = f"cannot be written ({existing} is not writable)"
    elif existing is not None and not existing.is_dir():
        problem = f"cannot be created ({existing} is a file)"
    else:
        return
    console.print(f"[red]home {home} {problem}[/red]", soft_wrap=True)
    raise typer.Exit(2)
