"""`workstream users`: add users and grants, issue and revoke API tokens, remove access, list, audit.

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


def _console():
    # Imported on use: cli.py loads this module for every command, and rich is slow to import.
    from dagster_project.commands.common import console

    return console


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
    from rich.markup import escape

    # The message can quote an email as typed: escaped, so `[` in it is text, not markup.
    _console().print(f"[red]{escape(message)}[/red]", soft_wrap=True, highlight=False)
    return typer.Exit(2)


def _existing_store(home: Path) -> Path:
    """A home that has a control store, for the commands that only read or change existing users."""
    from dagster_project.settings import HomePaths

    if not home.is_dir():
        raise _fail(f"no home at {home}")
    if not HomePaths(home).control.exists():
        raise _fail(f"no users in {home} yet: add one with `workstream users add`")
    return home


def _warn_if_shared(home: Path) -> None:
    """A home others can enter exposes every org and the user table: say so (stderr), and go on, since
    the operator may mean it (a group of operators)."""
    import stat

    mode = stat.S_IMODE(home.stat().st_mode)
    if mode & 0o077:
        _console().print(
            f"warning: {home} is open to other OS users (mode {mode:o}); whoever can read it reads "
            f"every org and the user table. `chmod 700 {home}` keeps it to you.",
            soft_wrap=True,
            markup=False,
        )


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
    from dagster_project.commands.common import check_home

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
    _console().print(f"{principal.email} ({principal.user_id}): {grants}", soft_wrap=True, markup=False)
    _warn_if_shared(home)
    _console().print(
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
    _warn_if_shared(home)
    _console().print(
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
        _console().print(f"no users in {home}")
        return
    now = _now()
    for user in users:
        grants = ", ".join(f"{o}:{r}" for o, r in user["grants"].items()) or "no access"
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
    _console().print(f"revoked {count} token{'s' if count != 1 else ''}", markup=False)


@app.command("remove")
def remove(
    home: HomeOption,
    email: EmailOption,
    org: Annotated[
        list[str] | None,
        typer.Option(
            "--org", help="Only this org's grant (repeatable); without it, all of the user's access."
        ),
    ] = None,
) -> None:
    """Take a user's grant for an org away, or all their access (grants, admin role, tokens, password,
    sessions); `users add` can let them back in."""
    from dagster_project.access import AccessError
    from dagster_project.access import remove as remove_access

    _existing_store(home)
    try:
        removed = remove_access(home, email, org or (), now=_now())
    except AccessError as exc:
        raise _fail(str(exc)) from exc
    _console().print(
        f"removed: {', '.join(removed) or 'nothing (no access left)'}", soft_wrap=True, markup=False
    )


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


DEMO_ADMIN = "admin@workstream.demo"


def demo_viewer(org_id: str) -> str:
    return f"viewer@{org_id}.demo"


def _snapshot_orgs(home: Path) -> list[str]:
    """Every org with events or ingested files in the home's snapshot (the operator's view: all orgs)."""
    from dagster_project.serving import reader
    from dagster_project.settings import HomePaths

    serving = HomePaths(home).serving
    try:
        with reader.connect(serving, scope=reader.SYSTEM) as con:
            rows = con.execute(
                "select org_id from marts.event_volume_daily where org_id is not null "
                "union select org_id from marts.ingest_ledger_by_org where org_id is not null order by 1"
            ).fetchall()
    except reader.SnapshotMissing as exc:
        raise _fail(f"no snapshot at {serving}: run `workstream run` first") from exc
    except (reader.SnapshotUnavailable, reader.SnapshotIncompatible) as exc:
        raise _fail(f"cannot read the orgs in {serving}: {exc}") from exc
    return [r[0] for r in rows]


@app.command("demo")
def demo(home: HomeOption) -> None:
    """Create the demo's logins once: an admin, and a viewer per org of the snapshot, with generated
    passwords printed this once; on a later run, only the orgs that have no viewer yet get one."""
    import secrets

    from dagster_project.access import AccessError, add_user, principal_for_email

    orgs = _snapshot_orgs(home)
    wanted = [(DEMO_ADMIN, "admin", [])] + [(demo_viewer(o), "viewer", [o]) for o in orgs]
    created: list[tuple[str, str, str, str]] = []
    now = _now()
    try:
        for email, role, grant in wanted:
            if principal_for_email(home, email, via="cli") is not None:
                continue
            password = secrets.token_urlsafe(12)
            add_user(home, email, role, grant, password=password, now=now, actor="cli:demo")
            created.append((role, email, password, ", ".join(grant) or "every org"))
    except AccessError as exc:
        raise _fail(str(exc)) from exc
    if not created:
        _console().print(
            f"the demo logins exist already in {home} ({DEMO_ADMIN} and one viewer per org); their "
            "passwords were shown when they were created. A new one: "
            f"`workstream users add --home {home} --email {DEMO_ADMIN} --role admin --password-stdin`",
            soft_wrap=True,
            markup=False,
        )
        return
    print("Demo logins for the dashboards (shown this once; `workstream users` manages them):")
    width = max(len(e) for _, e, _, _ in created)
    for role, email, password, scope in created:
        print(f"  {role:<6}  {email:<{width}}  {password}  ({scope})")
