"""`workstream api`: the read-only HTTP API on the live snapshot or on a past one.

It binds 127.0.0.1 unless `--host` says otherwise and accepts the home's tokens; OIDC access tokens
only when all of `--oidc-issuer`, `--oidc-audience` and `--oidc-jwks` are given.
"""

from __future__ import annotations

from pathlib import Path

import typer

from dagster_project.commands.common import console
from dagster_project.settings import HomePaths


def serve_api(
    home: Path,
    *,
    host: str,
    port: int,
    snapshot: Path | None,
    oidc_issuer: str | None = None,
    oidc_audience: str | None = None,
    oidc_jwks: str | None = None,
    oidc_org_claim: str | None = None,
    oidc_email_claim: str = "email",
) -> None:
    import uvicorn

    from dagster_project.api import create_app
    from dagster_project.api.oidc import OidcConfigError, is_loopback, settings_from_options

    try:
        oidc_settings = settings_from_options(
            oidc_issuer, oidc_audience, oidc_jwks, oidc_org_claim, oidc_email_claim
        )
    except OidcConfigError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None

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
    auth = "built-in tokens" + (f" and OIDC ({oidc_settings.issuer})" if oidc_settings else " only")
    console.print(f"[bold]Auth[/bold]  {auth}: `workstream users add` / `users token` print a token")
    if not is_loopback(host):
        # Bearer tokens are secrets: off this machine they need TLS, which uvicorn here does not add.
        console.print(
            f"[yellow]listening on {host}: tokens cross the network in clear text unless a TLS proxy "
            "is in front[/yellow]"
        )
    app_ = create_app(paths.home, snapshot=served if snapshot is not None else None, oidc=oidc_settings)
    uvicorn.run(app_, host=host, port=port, log_level="warning")
