"""`workstream outbox dead-letters` and `retry`: one org's dead letters, listed and put back in the queue."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from dagster_project.commands.common import console
from dagster_project.settings import HomePaths, default_clock


def _org_control_store(home: Path, org: str) -> Path:
    """The home's control store, refusing (exit 2) a home without one or an org it has never queued
    for: an empty answer there would read as "no dead letters" when the path or the org is wrong."""
    from dagster_project.control import outbox_reports

    control = HomePaths(home.resolve()).control
    if not home.is_dir():
        console.print(f"[red]no home at {home}[/red]", soft_wrap=True)
        raise typer.Exit(2)
    if not control.exists():
        console.print(f"[red]no control store at {control}: run `workstream run` first[/red]", soft_wrap=True)
        raise typer.Exit(2)
    orgs = [row.org_id for row in outbox_reports.health(control, default_clock().now())]
    if org not in orgs:
        known = f"; orgs with items: {', '.join(orgs)}" if orgs else ""
        console.print(f"[red]org {org!r} has no outbox items in {home}{known}[/red]", soft_wrap=True)
        raise typer.Exit(2)
    return control


def list_dead_letters(home: Path, org: str) -> None:
    from dagster_project.control import outbox_reports

    rows = outbox_reports.dead_letters(_org_control_store(home, org), org)
    if not rows:
        console.print(f"no dead letters for org {org}")
        return
    table = Table(title=f"dead letters of {org}: {len(rows)}")
    for name in ("event_id", "entity", "attempts", "dead_at", "last_error"):
        table.add_column(name)
    for d in rows:
        table.add_row(
            d.event_id,
            f"{d.entity_type}:{d.entity_id}",
            str(d.attempts),
            d.dead_at.isoformat(),
            d.last_error or "",
        )
    Console().print(table)


def retry(home: Path, org: str, event_ids: list[str] | None, *, all_dead: bool) -> None:
    from dagster_project.control import outbox, outbox_reports

    if not all_dead and not event_ids:
        console.print("[red]name --event-id ID (repeatable) or --all[/red]")
        raise typer.Exit(2)
    control = _org_control_store(home, org)
    if all_dead:
        wanted = [(org, d.event_id) for d in outbox_reports.dead_letters(control, org)]
    else:
        wanted = [(org, e) for e in event_ids or []]
    revived = outbox.retry_dead(control, wanted, default_clock().now())
    missing = sorted(set(wanted) - set(revived))
    console.print(f"{len(revived)} item(s) back in the queue")
    for _, eid in missing:
        console.print(f"[yellow]{eid}: not a dead letter of {org}[/yellow]")
    if missing:
        raise typer.Exit(1)
