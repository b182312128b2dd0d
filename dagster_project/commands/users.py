"""`workstream users`: add users and grants, issue and revoke API tokens, list them, read the audit.

The CLI is trusted: whoever can read and write the home (the local OS user) manages its users, so no
command here asks for a login. A token goes to stdout as the last line, with a plain `print` (nothing
wraps or colours it, nothing follows it), so `workstream users token … | tail -n 1` is the token;
every message goes to stderr.
"""

from __future__ import annotations

import getpass
import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from dagster_project.commands.common import check_home, console

app = typer.Typer(
    help="Users, their org grants and API tokens (whoever can read the home manages them).",
    no_args_is_help=True,
)

HomeOption = Annotated[
    Path, typer.Option("--home", help="The home folder whose control store holds the users.")
]
EmailOption = Annotated[str, typer.Option("--email", help="The user's email (stored lower-cased).")]
ExpiresOption = Annotated[
    int | None,
    typer.Option("--expires-in", help="Days until the token expires (default: it does not expire)."),
]


def _now():
    from dagster_project.settings import default_clock

    return default_clock().now()


def _fail(message: str) -> typer.Exit:
    console.print(f"[red]{message}[/red]", soft_wrap=True, markup=True, highlight=False)
    return typer.Exit(2)


def _existing_store(home: Path) -> Path:
    """A home that has a control store, for the commands that only read or change existing users."""
    from dagster_project.settings import HomePaths

    if not home.is_dir():
        raise _fail(f"no home at {home}")
    if not HomePaths(home).control.exists():
        raise _fail(f"no users in {home} yet: add one with `workstream users add`")
    return home


def _print_token(token: str) -> None:
    # The contract: the token is stdout's last line, unwrapped, nothing after it.
    sys.stdout.flush()
    print(token, flush=True)


def _read_password() -> str:
    if sys.stdin.isatty():
        return getpass.getpass("password: ")
    line = sys.stdin.readline()
    return line.removesuffix("\n").removesuffix("\r")


@app.command("add")
def add(
    home: HomeOption,
    email: EmailOption,
    role: Annotated[str, typer.Option("--role", help="viewer or governor (with --org), or admin (without).")],
    org: Annotated[
        list[str] | None, typer.Option("--org", help="An org the role applies to (repeatable).")
    ] = None,
    password_stdin: Annotated[
        bool,
        typer.Option(
            "--password-stdin", help="Read a password for the dashboards' login from stdin (one line)."
        ),
    ] = False,
    expires_in: ExpiresOption = None,
) -> None:
    """Add a user (or grants to an existing one, or a new password) and print their first API token."""
    from dagster_project.access import AccessError, add_user

    password = None
    if password_stdin:
        password = _read_password()
        if not password:
            raise _fail("--password-stdin: no password on stdin")
    check_home(home)
    try:
        principal, token_id, token = add_user(
            home, email, role, org or (), password=password, expires_in_days=expires_in, now=_now()
        )
    except AccessError as exc:
        raise _fail(str(exc)) from exc
    grants = (
        "every org (admin)"
        if principal.is_admin
        else ", ".join(f"{o}: {r}" for o, r in principal.grants.items())
    )
    console.print(f"{principal.email} ({principal.user_id}): {grants}", soft_wrap=True, markup=False)
    console.print(
        f"API token {token_id}{_expiry_note(expires_in)}; it is shown once, on the last line of stdout:",
        soft_wrap=True,
        markup=False,
    )
    _print_token(token)


def _expiry_note(days: int | None) -> str:
    return f", expires in {days} days" if days else ", does not expire"


@app.command("token")
def token(home: HomeOption, email: EmailOption, expires_in: ExpiresOption = None) -> None:
    """Issue a new API token for an existing user and print it."""
    from dagster_project.access import AccessError, issue_token

    _existing_store(home)
    try:
        token_id, plaintext = issue_token(home, email, expires_in_days=expires_in, now=_now())
    except AccessError as exc:
        raise _fail(str(exc)) from exc
    console.print(
        f"API token {token_id}{_expiry_note(expires_in)}; it is shown once, on the last line of stdout:",
        soft_wrap=True,
        markup=False,
    )
    _print_token(plaintext)


@app.command("list")
def list_(
    home: HomeOption,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON document instead of a table.")] = False,
) -> None:
    """Every user with their role, grants and tokens (ids, times, state; never a secret)."""
    from dagster_project.access import list_users

    users = list_users(_existing_store(home))
    if as_json:
        print(json.dumps(users, indent=2))
        return
    if not users:
        console.print(f"no users in {home}")
        return
    now = _now()
    for user in users:
        grants = "every org" if user["is_admin"] else ", ".join(f"{o}:{r}" for o, r in user["grants"].items())
        login = "password" if user["has_password"] else "token only"
        print(f"{user['email']}\t{user['user_id']}\t{'admin' if user['is_admin'] else grants}\t{login}")
        for t in user["tokens"]:
            print(f"  token {t['token_id']}\tcreated {t['created_at']}\t{_token_state(t, now)}")


def _token_state(token: dict, now) -> str:
    from dagster_project.access.store import parse_ts

    if token["revoked_at"]:
        return f"revoked {token['revoked_at']}"
    expires = parse_ts(token["expires_at"])
    if expires is None:
        return "active, no expiry"
    return f"{'expired' if now >= expires else 'active, expires'} {token['expires_at']}"


@app.command("revoke")
def revoke(
    home: HomeOption,
    email: EmailOption,
    token_id: Annotated[
        str | None, typer.Option("--token-id", help="Only this token (default: every token of the user).")
    ] = None,
) -> None:
    """Revoke one of a user's API tokens, or all of them."""
    from dagster_project.access import AccessError
    from dagster_project.access import revoke as revoke_tokens

    _existing_store(home)
    try:
        count = revoke_tokens(home, email, token_id=token_id, now=_now())
    except AccessError as exc:
        raise _fail(str(exc)) from exc
    console.print(f"revoked {count} token{'s' if count != 1 else ''}", markup=False)


@app.command("audit")
def audit(
    home: HomeOption,
    limit: Annotated[
        int, typer.Option("--limit", min=1, max=100_000, help="The newest this many rows.")
    ] = 50,
) -> None:
    """The audit (grants, logins, rejected tokens, governance requests), newest first, as JSON Lines."""
    from dagster_project.access import read_audit

    for row in read_audit(_existing_store(home), limit=limit):
        print(json.dumps(row))
