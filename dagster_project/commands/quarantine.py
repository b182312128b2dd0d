"""`workstream quarantine export`: quarantined records as JSON Lines to fix and drop back into the inbox."""

from __future__ import annotations

from pathlib import Path

import typer

from dagster_project.commands.common import console, os_errors_exit_2
from dagster_project.settings import HomePaths


def _scope(orgs: list[str], all_orgs: bool):
    """The reader scope the export reads through: the orgs named, or every org when asked explicitly."""
    from dagster_project.access.model import AccessError, check_org_id
    from dagster_project.serving.reader import SYSTEM, OrgScope

    if all_orgs == bool(orgs):
        both = ", not both" if all_orgs else ""
        console.print(f"[red]say whose records to export: --org ORG (repeatable) or --all-orgs{both}[/red]")
        raise typer.Exit(2)
    if all_orgs:
        return SYSTEM
    try:
        return OrgScope(check_org_id(o) for o in orgs)
    except AccessError as exc:
        console.print(f"[red]--org: {exc}[/red]", soft_wrap=True, markup=True, highlight=False)
        raise typer.Exit(2) from exc


def export(home: Path, out: Path, reason: str | None, *, orgs: list[str], all_orgs: bool) -> None:
    from dagster_project.contract.events import Reason
    from dagster_project.ingestion.quarantine import export_quarantine, reasons_path

    scope = _scope(orgs, all_orgs)

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
            written, skipped = export_quarantine(paths.serving, out, scope=scope, reason=reason)
    except (reader.SnapshotMissing, reader.SnapshotUnavailable, reader.SnapshotIncompatible) as exc:
        console.print(f"[red]cannot read the quarantine in {paths.serving}: {exc}[/red]", soft_wrap=True)
        raise typer.Exit(2) from exc
    which = (f" of org {', '.join(sorted(orgs))}" if orgs else "") + (
        f" with reason {reason}" if reason else ""
    )
    if not written and not skipped:
        console.print(f"no quarantined records{which} in {paths.serving}: {out} is empty", soft_wrap=True)
        return
    console.print(
        f"wrote {written:,} records{which} to {out}, their reason, file and line to {reasons_path(out)}"
        + (f" ({skipped} whole-file entries listed in stderr)" if skipped else ""),
        soft_wrap=True,
    )
