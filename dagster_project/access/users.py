"""Users, grants and API tokens: created, listed and revoked by the CLI (the trusted local OS user).

A token's plaintext is `ws_<token_id>_<secret>`: the id (12 lowercase hex) finds the row, so a request
costs one argon2 verify; the table holds only the argon2 hash of the whole plaintext. It is shown once.
"""

from __future__ import annotations

import re
import secrets
import sqlite3
from collections.abc import Iterable
from datetime import datetime, timedelta
from pathlib import Path

from dagster_project.access import audit_log
from dagster_project.access.model import (
    AccessError,
    Principal,
    canonical_email,
    check_org_id,
    check_role,
    is_text,
)
from dagster_project.access.store import (
    connect,
    hasher,
    load_principal,
    parse_ts,
    transaction,
    ts,
    user_id_for,
)

TOKEN_PREFIX = "ws"
TOKEN_ID = re.compile(r"^[0-9a-f]{12}$")
# What `secrets.token_urlsafe(32)` gives, with room to spare; longer input is refused before hashing.
MAX_TOKEN_LENGTH = 128
MIN_PASSWORD_LENGTH = 8
# argon2 hashes whatever it is given; a bound keeps a hostile "password" from costing more than a real one.
MAX_PASSWORD_LENGTH = 1024
MAX_EXPIRY_DAYS = 3650


def check_password(password: object) -> str:
    if (
        not isinstance(password, str)
        or not (MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH)
        or not is_text(password)
    ):
        raise AccessError(
            f"a password is {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters of UTF-8 text"
        )
    return password


def _expiry(now: datetime, expires_in_days: int | None) -> str | None:
    if expires_in_days is None:
        return None
    if isinstance(expires_in_days, bool) or not isinstance(expires_in_days, int):
        raise AccessError("--expires-in is a whole number of days")
    if not 1 <= expires_in_days <= MAX_EXPIRY_DAYS:
        raise AccessError(f"--expires-in is 1 to {MAX_EXPIRY_DAYS} days")
    return ts(now + timedelta(days=expires_in_days))


def parse_token(token: object) -> tuple[str, str] | None:
    """(token_id, plaintext) of a well-formed token, else None (nothing about it is trusted yet)."""
    if not isinstance(token, str) or len(token) > MAX_TOKEN_LENGTH or not token.isascii():
        return None
    prefix, _, rest = token.partition("_")
    token_id, _, secret = rest.partition("_")
    if prefix != TOKEN_PREFIX or not TOKEN_ID.fullmatch(token_id) or len(secret) < 32:
        return None
    return token_id, token


def _new_token(
    con: sqlite3.Connection, user_id: str, *, now: datetime, expires_in_days: int | None, actor: str
) -> tuple[str, str]:
    expires_at = _expiry(now, expires_in_days)
    token_id = secrets.token_hex(6)
    while con.execute("select 1 from tokens where token_id = ?", (token_id,)).fetchone():
        token_id = secrets.token_hex(6)
    plaintext = f"{TOKEN_PREFIX}_{token_id}_{secrets.token_urlsafe(32)}"
    con.execute(
        "insert into tokens (token_id, user_id, secret_hash, created_at, expires_at) values (?, ?, ?, ?, ?)",
        (token_id, user_id, hasher().hash(plaintext), ts(now), expires_at),
    )
    audit_log.write(
        con,
        "token.issued",
        actor=actor,
        now=now,
        target=user_id,
        detail={"token_id": token_id, "expires_at": expires_at},
    )
    return token_id, plaintext


def add_user(
    home: Path,
    email: str,
    role: str,
    orgs: Iterable[str] = (),
    *,
    password: str | None = None,
    expires_in_days: int | None = None,
    now: datetime,
    actor: str = "cli",
) -> tuple[Principal, str, str]:
    """Create the user (or add grants to an existing one, or set a new password); return the principal,
    and the id and plaintext of a new API token (the only time the plaintext exists)."""
    email = canonical_email(email)
    role = check_role(role)
    org_ids = sorted({check_org_id(o) for o in ([orgs] if isinstance(orgs, str) else orgs)})
    if role == "admin" and org_ids:
        raise AccessError("admin is a global role: give it without --org (admins see every org)")
    if role != "admin" and not org_ids:
        raise AccessError(f"{role} is a role in an org: give one or more --org")
    password_hash = None if password is None else hasher().hash(check_password(password))
    _expiry(now, expires_in_days)  # refuse a bad expiry before anything is written
    with transaction(home) as con:
        user_id = user_id_for(con, email)
        if user_id is None:
            user_id = "u_" + secrets.token_hex(6)
            con.execute(
                "insert into users (user_id, email, is_admin, password_hash, created_at, created_by) "
                "values (?, ?, ?, ?, ?, ?)",
                (user_id, email, int(role == "admin"), password_hash, ts(now), actor),
            )
            audit_log.write(con, "user.added", actor=actor, now=now, target=user_id, detail={"role": role})
        else:
            is_admin = con.execute("select is_admin from users where user_id = ?", (user_id,)).fetchone()[0]
            if is_admin and role != "admin":
                raise AccessError(f"{email} is an admin and sees every org: no org grant is needed")
            if role == "admin" and not is_admin:
                # Promoted: the org grants are subsumed by the global role.
                con.execute("update users set is_admin = 1 where user_id = ?", (user_id,))
                con.execute("delete from grants where user_id = ?", (user_id,))
                audit_log.write(
                    con, "grant.added", actor=actor, now=now, target=user_id, detail={"role": "admin"}
                )
            if password_hash is not None:
                con.execute("update users set password_hash = ? where user_id = ?", (password_hash, user_id))
        for org_id in org_ids:
            con.execute(
                "insert into grants (user_id, org_id, role, granted_at, granted_by) values (?, ?, ?, ?, ?) "
                "on conflict (user_id, org_id) do update set role = excluded.role, "
                "granted_at = excluded.granted_at, granted_by = excluded.granted_by",
                (user_id, org_id, role, ts(now), actor),
            )
            audit_log.write(
                con, "grant.added", actor=actor, now=now, org_id=org_id, target=user_id, detail={"role": role}
            )
        token_id, plaintext = _new_token(con, user_id, now=now, expires_in_days=expires_in_days, actor=actor)
        principal = load_principal(con, user_id, "cli")
    assert principal is not None
    return principal, token_id, plaintext


def issue_token(
    home: Path, email: str, *, expires_in_days: int | None = None, now: datetime, actor: str = "cli"
) -> tuple[str, str]:
    """A new API token for an existing user: (token_id, plaintext)."""
    email = canonical_email(email)
    with transaction(home) as con:
        user_id = user_id_for(con, email)
        if user_id is None:
            raise AccessError(f"no user {email}: add them with `workstream users add`")
        return _new_token(con, user_id, now=now, expires_in_days=expires_in_days, actor=actor)


def list_users(home: Path) -> list[dict]:
    """Every user with their role, grants and tokens (ids and times; never a hash)."""
    with connect(home) as con:
        users = con.execute(
            "select user_id, email, is_admin, password_hash is not null, created_at from users order by email"
        ).fetchall()
        out = []
        for user_id, email, is_admin, has_password, created_at in users:
            grants = dict(
                con.execute("select org_id, role from grants where user_id = ? order by org_id", (user_id,))
            )
            tokens = [
                {"token_id": t, "created_at": c, "expires_at": e, "revoked_at": r}
                for t, c, e, r in con.execute(
                    "select token_id, created_at, expires_at, revoked_at from tokens where user_id = ? "
                    "order by created_at, rowid",
                    (user_id,),
                )
            ]
            out.append(
                {
                    "email": email,
                    "user_id": user_id,
                    "role": "admin" if is_admin else ",".join(sorted(set(grants.values()))),
                    "is_admin": bool(is_admin),
                    "grants": grants,
                    "has_password": bool(has_password),
                    "created_at": created_at,
                    "tokens": tokens,
                }
            )
        return out


def revoke(home: Path, email: str, *, token_id: str | None = None, now: datetime, actor: str = "cli") -> int:
    """Revoke one token of the user, or all of them when no id is given; the number revoked now (a token
    revoked before is not counted again)."""
    email = canonical_email(email)
    if token_id is not None and not (isinstance(token_id, str) and TOKEN_ID.fullmatch(token_id)):
        raise AccessError("a token id is 12 lowercase hex characters (see `workstream users list`)")
    with transaction(home) as con:
        user_id = user_id_for(con, email)
        if user_id is None:
            raise AccessError(f"no user {email}")
        if token_id is not None:
            owner = con.execute("select user_id from tokens where token_id = ?", (token_id,)).fetchone()
            if owner is None or owner[0] != user_id:
                raise AccessError(f"{email} has no token {token_id}")
            ids = [token_id]
        else:
            ids = [r[0] for r in con.execute("select token_id from tokens where user_id = ?", (user_id,))]
        revoked = 0
        for tid in ids:
            cur = con.execute(
                "update tokens set revoked_at = ? where token_id = ? and revoked_at is null", (ts(now), tid)
            )
            if cur.rowcount:
                revoked += 1
                audit_log.write(
                    con, "token.revoked", actor=actor, now=now, target=user_id, detail={"token_id": tid}
                )
        return revoked


def remove(
    home: Path, email: str, orgs: Iterable[str] = (), *, now: datetime, actor: str = "cli"
) -> list[str]:
    """Take access away. With `orgs`: those grants go (the rest stay). Without: the user keeps no way in
    and nothing to read — every grant and the admin role go, every token is revoked, the password is
    cleared and every session ends; `add_user` can let them back in. Returns what was removed."""
    email = canonical_email(email)
    org_ids = sorted({check_org_id(o) for o in ([orgs] if isinstance(orgs, str) else orgs)})
    with transaction(home) as con:
        user_id = user_id_for(con, email)
        if user_id is None:
            raise AccessError(f"no user {email}")
        if org_ids:
            held = {r[0] for r in con.execute("select org_id from grants where user_id = ?", (user_id,))}
            if missing := [o for o in org_ids if o not in held]:
                raise AccessError(f"{email} has no grant for {', '.join(missing)}")
            for org_id in org_ids:
                con.execute("delete from grants where user_id = ? and org_id = ?", (user_id, org_id))
                audit_log.write(con, "grant.removed", actor=actor, now=now, org_id=org_id, target=user_id)
            return [f"grant {o}" for o in org_ids]
        removed = [
            f"grant {r[0]}" for r in con.execute("select org_id from grants where user_id = ?", (user_id,))
        ]
        con.execute("delete from grants where user_id = ?", (user_id,))
        is_admin, has_password = con.execute(
            "select is_admin, password_hash is not null from users where user_id = ?", (user_id,)
        ).fetchone()
        con.execute("update users set is_admin = 0, password_hash = null where user_id = ?", (user_id,))
        tokens = con.execute(
            "update tokens set revoked_at = ? where user_id = ? and revoked_at is null", (ts(now), user_id)
        ).rowcount
        sessions = con.execute("delete from sessions where user_id = ?", (user_id,)).rowcount
        removed += ["admin role"] * bool(is_admin) + ["password"] * bool(has_password)
        removed += [f"{tokens} token(s)"] * bool(tokens) + [f"{sessions} session(s)"] * bool(sessions)
        audit_log.write(
            con, "user.removed", actor=actor, now=now, target=user_id,
            detail={"tokens": tokens, "sessions": sessions},
        )  # fmt: skip
        return removed


def principal_for_email(home: Path, email: str, *, via: str = "oidc") -> Principal | None:
    """The principal of a user known by email (an OIDC login); None when there is no such user."""
    try:
        email = canonical_email(email)
    except AccessError:
        return None
    with connect(home) as con:
        user_id = user_id_for(con, email)
        return None if user_id is None else load_principal(con, user_id, via)


def token_row(
    con: sqlite3.Connection, token_id: str
) -> tuple[str, str, datetime | None, datetime | None] | None:
    """(user_id, secret_hash, expires_at, revoked_at) of a token id, or None."""
    row = con.execute(
        "select user_id, secret_hash, expires_at, revoked_at from tokens where token_id = ?", (token_id,)
    ).fetchone()
    return None if row is None else (row[0], row[1], parse_ts(row[2]), parse_ts(row[3]))
