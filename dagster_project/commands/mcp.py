"""`workstream mcp`: the MCP server over the snapshot, on stdio (one token from the environment) or on
streamable HTTP at 127.0.0.1 (a bearer token per request). Stdout carries protocol messages only."""

from __future__ import annotations

from pathlib import Path

import typer

from dagster_project.commands.common import console
from dagster_project.settings import HomePaths


def serve_mcp(home: Path, *, http: bool, port: int) -> None:
    from dagster_project.mcp.gate import ENV_TOKEN, Gate, token_from_env

    paths = HomePaths(home.resolve())
    if not paths.home.is_dir():  # a read-only server creates nothing: a mistyped home is an error
        console.print(
            f"[red]home {home} is not a folder: give the home a `workstream run` wrote[/red]", soft_wrap=True
        )
        raise typer.Exit(2)
    if not paths.serving.exists():
        console.print(
            f"[yellow]no snapshot at {paths.serving} yet: tools answer with an error until one is published[/yellow]",
            soft_wrap=True,
        )
    token = None
    if not http:
        token = token_from_env()
        if token is None:
            console.print(
                f"[red]set {ENV_TOKEN} to an access token (`workstream users add` issues one)[/red]",
                soft_wrap=True,
            )
            raise typer.Exit(2)
        if Gate(paths.home).authenticate(token) is None:
            console.print(
                f"[red]{ENV_TOKEN} is not a valid token (unknown, revoked or expired)[/red]", soft_wrap=True
            )
            raise typer.Exit(2)
    # The MCP SDK is imported only for a server that starts: a refused start (no such home, no valid
    # token) answers at once, without loading it.
    from dagster_project.mcp.server import build_server

    if http:
        server = build_server(paths.home, http_port=port)
        console.print(f"[bold]MCP[/bold]   http://127.0.0.1:{port}/mcp   (bearer token per request)")
        server.run("streamable-http", host="127.0.0.1", port=port)
        return
    build_server(paths.home, token=token).run("stdio")
