"""`workstream import salesforce|hubspot`: a CRM export folder → contract events in an inbox, with a
progress bar, a summary and the report (docs/import.md)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from dagster_project.commands.common import console, os_errors_exit_2, progress
from dagster_project.settings import default_clock


def import_crm(
    vendor: str,
    source: Path,
    org: str,
    out: Path,
    *,
    report: Path | None,
    home: Path | None,
    retention: str,
) -> None:
    from dagster_project.importers.run import ImportRefused, run_import

    now = default_clock().now()
    try:
        with os_errors_exit_2(f"cannot write the import to {out}"), progress() as bar:
            task = bar.add_task(f"reading the {vendor} export (rows)", total=None)
            result = run_import(
                vendor,
                source,
                org,
                out,
                now=now,
                report=report,
                home=home,
                retention=retention,
                progress=lambda n: bar.advance(task, n),
            )
    except ImportRefused as exc:
        console.print(f"[red]{exc}[/red]", soft_wrap=True)
        raise typer.Exit(2) from exc
    table = Table(title=f"{vendor} → {org}: one outcome per row")
    for column in ("object", "mapped", "skipped", "unmapped"):
        table.add_column(column, justify="left" if column == "object" else "right")
    for name, counts in result.by_object.items():
        if counts.get("absent"):
            continue
        table.add_row(name, *(f"{counts.get(k, 0):,}" for k in ("mapped", "skipped", "unmapped")))
    console.print(table)
    if result.absent:
        console.print(f"absent from the export (not an error): {', '.join(result.absent)}", soft_wrap=True)
    if result.window is not None:
        first, last = result.window
        console.print(
            f"gate_mode warn from {first.isoformat()} to {last.isoformat()}, then {result.previous_mode}",
            soft_wrap=True,
        )
    names = ", ".join(p.name for p in result.files) or "nothing"
    console.print(f"wrote {result.events:,} events to {out}: {names}", soft_wrap=True)
    console.print(f"report: {result.report}", soft_wrap=True)
