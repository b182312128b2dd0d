"""`workstream`: the scriptable entry point (generate demo data, run the pipeline once, serve, export).

This module is the command line only (commands, options, help, exit codes): each command's work is in
`dagster_project/commands/`, imported when the command runs so that `workstream --help` starts fast.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from dagster_project.commands.users import app as users_app
from dagster_project.settings import parse_timestamp

app = typer.Typer(help="Workstream: sales events in, validated, modelled and served.", no_args_is_help=True)
quarantine_app = typer.Typer(help="Work with quarantined input records.", no_args_is_help=True)
app.add_typer(quarantine_app, name="quarantine")
outbox_app = typer.Typer(help="Inspect dead letters and retry them after a fix.", no_args_is_help=True)
app.add_typer(outbox_app, name="outbox")
app.add_typer(users_app, name="users")
import_app = typer.Typer(help="Turn a CRM export into contract events in an inbox.", no_args_is_help=True)
app.add_typer(import_app, name="import")


def _timestamp(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return parse_timestamp(value).isoformat()
    except ValueError as exc:
        raise typer.BadParameter(
            f"{value!r}: {exc}; use RFC 3339 with an offset, e.g. 2026-11-27T17:00:00Z"
        ) from exc


@app.command()
def generate(
    out: Annotated[Path, typer.Option("--out", help="Folder to write event files into.")],
    orgs: Annotated[int, typer.Option(min=1, help="Number of tenants.")] = 3,
    events: Annotated[int, typer.Option(min=1, help="Approximate number of valid events.")] = 10_000,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed gives the same files.")] = 7,
    bad_rate: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Share of malformed/duplicate lines.")
    ] = 0.0,
    end: Annotated[
        str | None, typer.Option(help="Last event time (RFC 3339); default 2026-11-27T17:00:00Z.")
    ] = None,
    files: Annotated[
        int | None, typer.Option(min=1, help="Number of files (default: one per 250k events).")
    ] = None,
    span_days: Annotated[
        int,
        typer.Option(
            min=70,  # generator.engine.MIN_SPAN_DAYS (not imported here: the CLI starts fast)
            help="Days of history the events cover, ending at --end: more days at the same --events "
            "means a lower activity rate.",
        ),
    ] = 120,
) -> None:
    """Write deterministic, realistic multi-org sales activity in JSONL, JSONL.gz, CSV and Parquet."""
    from dagster_project.commands.generate import generate_events

    generate_events(
        out,
        orgs=orgs,
        events=events,
        seed=seed,
        bad_rate=bad_rate,
        end=parse_timestamp(_timestamp(end)) if end else None,
        files=files,
        span_days=span_days,
    )


@app.command()
def run(
    inbox: Annotated[Path, typer.Option("--inbox", help="Folder of event files to ingest.")],
    home: Annotated[
        Path, typer.Option("--home", help="Folder for the warehouse, control store and snapshot.")
    ],
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Compute outputs as of this time (RFC 3339).")
    ] = None,
    tests: Annotated[
        bool, typer.Option("--tests/--skip-tests", help="Run dbt's data tests after the build.")
    ] = True,
    verbose: Annotated[
        bool,
        typer.Option(
            "--verbose", "-v", help="Print every step's and dbt's detail (always in <home>/logs/run.log)."
        ),
    ] = False,
    full_refresh: Annotated[
        bool,
        typer.Option(
            "--full-refresh",
            help="Rebuild dbt's incremental models whole and score every org again; same results.",
        ),
    ] = False,
) -> None:
    """One shot: ingest every new file, apply, build, publish, then dbt's data tests; print the counts."""
    from dagster_project.commands.run import run_once

    run_once(inbox, home, _timestamp(as_of), tests=tests, verbose=verbose, full_refresh=full_refresh)


@app.command()
def snapshot(
    home: Annotated[Path, typer.Option("--home", help="The home folder a `workstream run` wrote.")],
    as_of: Annotated[str, typer.Option("--as-of", help="The past time to build it as of (RFC 3339).")],
    out: Annotated[
        Path | None,
        typer.Option("--out", help="File to write (default: <home>/as-of/<as-of time in UTC>.duckdb)."),
    ] = None,
    verbose: Annotated[
        bool,
        typer.Option("--verbose", "-v", help="Print dbt's detail (always in <home>/logs/snapshot.log)."),
    ] = False,
) -> None:
    """A past snapshot as of a time, built beside the live one (which, like the warehouse, stays as it is)."""
    from dagster_project.commands.snapshot import write_past_snapshot

    write_past_snapshot(home, parse_timestamp(_timestamp(as_of)), out, verbose=verbose)


@app.command()
def serve(
    home: Annotated[Path, typer.Option("--home", help="The home folder a `workstream run` wrote.")],
    inbox: Annotated[Path | None, typer.Option("--inbox", help="Inbox the sensor watches.")] = None,
    dagster_port: Annotated[int, typer.Option(help="Dagster UI port.")] = 3000,
    streamlit_port: Annotated[int, typer.Option(help="Streamlit port.")] = 8501,
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    verbose: Annotated[
        bool,
        typer.Option("--verbose", "-v", help="Also print the services' logs here (always in <home>/logs)."),
    ] = False,
) -> None:
    """Dagster UI (sensor and schedule on) and the Streamlit dashboards on the snapshot; Ctrl-C stops both."""
    from dagster_project.commands.serve import serve_services

    serve_services(
        home, inbox, dagster_port=dagster_port, streamlit_port=streamlit_port, host=host, verbose=verbose
    )


@app.command()
def api(
    home: Annotated[Path, typer.Option("--home", help="The home folder whose snapshot to serve.")],
    host: Annotated[
        str, typer.Option(help="Interface to bind (this machine only unless changed).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="HTTP port.")] = 8000,
    snapshot: Annotated[
        Path | None,
        typer.Option(
            "--snapshot",
            help="Serve this past snapshot (a file or a name in <home>/as-of/) instead of the live one.",
        ),
    ] = None,
    oidc_issuer: Annotated[str | None, typer.Option(help="OIDC: the provider's issuer (`iss`).")] = None,
    oidc_audience: Annotated[str | None, typer.Option(help="OIDC: this API's audience (`aud`).")] = None,
    oidc_jwks: Annotated[
        str | None, typer.Option(help="OIDC: the provider's JWKS, an https URL or a file.")
    ] = None,
    oidc_org_claim: Annotated[
        str | None, typer.Option(help="OIDC: claim with the org grants (default: the user table by email).")
    ] = None,
    oidc_email_claim: Annotated[str, typer.Option(help="OIDC: claim with the user's email.")] = "email",
) -> None:
    """The read-only HTTP API on the snapshot (cards, search, Today panel); bearer tokens; docs at /docs."""
    from dagster_project.commands.api import serve_api

    serve_api(
        home,
        host=host,
        port=port,
        snapshot=snapshot,
        oidc_issuer=oidc_issuer,
        oidc_audience=oidc_audience,
        oidc_jwks=oidc_jwks,
        oidc_org_claim=oidc_org_claim,
        oidc_email_claim=oidc_email_claim,
    )


@app.command()
def mcp(
    home: Annotated[Path, typer.Option("--home", help="The home folder whose snapshot to serve.")],
    http: Annotated[
        bool, typer.Option("--http", help="Streamable HTTP on 127.0.0.1 (a bearer token per request).")
    ] = False,
    port: Annotated[int, typer.Option(help="HTTP port (with --http).")] = 8765,
) -> None:
    """The read-only MCP server for assistants (stdio: the token in WORKSTREAM_TOKEN); see docs/mcp.md."""
    from dagster_project.commands.mcp import serve_mcp

    serve_mcp(home, http=http, port=port)


@quarantine_app.command("export")
def quarantine_export(
    home: Annotated[Path, typer.Option("--home", help="The home folder whose snapshot to read.")],
    out: Annotated[
        Path, typer.Option("--out", help="JSON Lines file to write (fix it, drop it in the inbox).")
    ],
    org: Annotated[
        list[str] | None, typer.Option("--org", help="Only this org's records (repeatable).")
    ] = None,
    all_orgs: Annotated[
        bool,
        typer.Option("--all-orgs", help="Every org's records, and those whose org could not be read."),
    ] = False,
    reason: Annotated[str | None, typer.Option("--reason", help="Only this reason code.")] = None,
) -> None:
    """Write quarantined records as JSON Lines to fix and drop back into the inbox; beside them, in
    `<name>.reasons.tsv`, each line's reason, file and line. One of --org or --all-orgs is required."""
    from dagster_project.commands.quarantine import export

    export(home, out, reason, orgs=org or [], all_orgs=all_orgs)


@outbox_app.command("dead-letters")
def outbox_dead_letters(
    home: Annotated[Path, typer.Option("--home", help="The home folder whose control store to read.")],
    org: Annotated[str, typer.Option("--org", help="The org (every read is scoped to one org).")],
) -> None:
    """List one org's dead letters with their attempts and last error."""
    from dagster_project.commands.outbox import list_dead_letters

    list_dead_letters(home, org)


@outbox_app.command("retry")
def outbox_retry(
    home: Annotated[Path, typer.Option("--home", help="The home folder whose control store to change.")],
    org: Annotated[str, typer.Option("--org", help="The org the items belong to.")],
    event_id: Annotated[
        list[str] | None, typer.Option("--event-id", help="A dead-lettered event to retry (repeatable).")
    ] = None,
    all_dead: Annotated[bool, typer.Option("--all", help="Retry every dead letter of the org.")] = False,
) -> None:
    """Put dead letters back in the queue (attempts reset); the outbox sensor or the next run applies them."""
    from dagster_project.commands.outbox import retry

    retry(home, org, event_id, all_dead=all_dead)


def _import_command(vendor: str):
    def command(
        source: Annotated[
            Path, typer.Option("--from", help="The export folder (CSV or Parquet per object).")
        ],
        org: Annotated[str, typer.Option("--org", help="The org the history belongs to.")],
        out: Annotated[Path, typer.Option("--out", help="The inbox to write the event files into.")],
        report: Annotated[
            Path | None,
            typer.Option("--report", help="The report CSV (default: next to --out, never inside it)."),
        ] = None,
        home: Annotated[
            Path | None,
            typer.Option("--home", help="A home to read the org's import.stage_map and gate_mode from."),
        ] = None,
        note_retention: Annotated[
            str,
            typer.Option(
                "--note-retention",
                help="crm: an old note's retention counts from its own date (it may arrive expired); "
                "keep: imported notes never expire by age (a redaction still removes them).",
            ),
        ] = "crm",
    ) -> None:
        from dagster_project.commands.imports import import_crm

        import_crm(vendor, source, org, out, report=report, home=home, retention=note_retention)

    command.__doc__ = f"A {vendor} export folder → contract events in an inbox, one report row per input row."
    return command


import_app.command("salesforce")(_import_command("salesforce"))
import_app.command("hubspot")(_import_command("hubspot"))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
