"""`workstream quarantine export`: quarantined records as JSON Lines to fix and drop back into the inbox."""

from __future__ import annotations

from pathlib import Path

import typer

from dagster_project.commands.common import console, os_errors_exit_2
from dagster_project.settings import HomePaths


def export(home: Path, out: Path, reason: str | None) -> None:
    from dagster_project.contract.events import Reason
    from dagster_project.ingestion.quarantine import export_quarantine, reasons_path

    if reason is not None and reason not in Reason.all():
        console.print(
            f"[red]unknown reason code {reason!r}; the codes are: {', '.join(Reason.all())}[/red]",
            soft_wrap=True,
        )
        raise typer.Exit(2)
    paths = HomePaths(home.resolve())
    if not paths.serving.exists():
        console.print(f"[red]no snapshot at {paths.serving}: run `workstream run` first[/red]")
        raise typer.Exit(2)
    from dagster_project.serving import reader

    try:
        with os_errors_exit_2(f"cannot write {out}"):
            written, skipped = export_quarantine(paths.serving, out, reason=reason)
    except (reader.SnapshotMissing, reader.SnapshotUnavailable, reader.SnapshotIncompatible) as exc:
        console.print(f"[red]cannot read the quarantine in {paths.serving}: {exc}[/red]", soft_wrap=True)
        raise typer.Exit(2) from exc
    which = f" with reason {reason}" if reason else ""
    if not written and not skipped:
        console.print(f"no quarantined records{which} in {paths.serving}: {out} is empty", soft_wrap=True)
        return
    console.print(
        f"wrote {written:,} records{which} to {out}, their reason, file and line to {reasons_path(out)}"
        + (f" ({skipped} whole-file entries listed in stderr)" if skipped else ""),
        soft_wrap=True,
    )
