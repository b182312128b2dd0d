"""`workstream api`: the read-only HTTP API on the live snapshot or on a past one."""

from __future__ import annotations

from pathlib import Path

import typer

from dagster_project.commands.common import console
from dagster_project.settings import HomePaths


def serve_api(home: Path, *, host: str, port: int, snapshot: Path | None) -> None:
    import uvicorn

    from dagster_project.api import create_app

    paths = HomePaths(home.resolve())
    if snapshot is not None:
        from dagster_project.serving.past_snapshots import as_of_dir

        past = snapshot if snapshot.is_file() else as_of_dir(paths) / snapshot.name
        if not past.is_file():
            console.print(
                f"[red]no past snapshot {snapshot} (nor {past}): `workstream snapshot` writes one[/red]"
            )
            raise typer.Exit(2)
        served = past.resolve()
    else:
        served = paths.serving
        if not served.exists():
            console.print(
                f"[yellow]no snapshot at {served} yet: routes answer 503 until one is published[/yellow]"
            )
    console.print(f"[bold]API[/bold]   http://{host}:{port}/docs   (snapshot: {served})")
    app_ = create_app(paths.home, snapshot=served if snapshot is not None else None)
    uvicorn.run(app_, host=host, port=port, log_level="warning")
