"""`workstream generate`: deterministic demo event files, with a progress bar."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from dagster_project.commands.common import console, os_errors_exit_2, progress


def generate_events(
    out: Path,
    *,
    orgs: int,
    events: int,
    seed: int,
    bad_rate: float,
    end: datetime | None,
    files: int | None,
    span_days: int,
) -> None:
    from dagster_project.generator import generate as run_generator

    kwargs = {"end": end} if end else {}
    with os_errors_exit_2(f"cannot write the event files to {out}"), progress() as bar:
        task = bar.add_task("generating events", total=events)
        result = run_generator(
            out,
            orgs=orgs,
            events=events,
            seed=seed,
            bad_rate=bad_rate,
            files=files,
            span_days=span_days,
            progress=lambda n: bar.advance(task, n),
            **kwargs,
        )
    console.print(
        f"wrote {result.events:,} events ({result.lines:,} lines, {sum(result.bad_lines.values()):,} malformed, "
        f"{result.identical_duplicates:,} duplicates) to {len(result.files)} files in {out}"
    )
