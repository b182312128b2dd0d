"""The audit table: who did what to which user, org or token, and when — ids and hashes only.

Rows never hold a password, a token, a session id or memory text: a token is referred to by its id or,
when it could not be parsed, by the first characters of its SHA-256; an unknown email by its SHA-256.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

from dagster_project.access.store import connect, transaction, ts

ACTIONS = frozenset(
    {
        "user.added",
        "grant.added",
        "grant.removed",
        "user.removed",
        "token.issued",
        "token.revoked",
        "login.ok",
        "login.failed",
        "login.locked",
        "token.rejected",
        "governance.requested",
        "access.denied",
    }
)
# A detail is a short code or a few ids; anything longer is not what this table is for.
MAX_DETAIL = 500
MAX_FIELD = 200


def _field(name: str, value: object) -> str | None:
    if value is None:
        return None
    text = str(value)
    if len(text) > MAX_FIELD:
        raise ValueError(f"audit {name} is longer than {MAX_FIELD} characters: pass an id, not a text")
    return text


def write(
    con: sqlite3.Connection,
    action: str,
    *,
    actor: str,
    now: datetime,
    org_id: str | None = None,
    target: str | None = None,
    detail: str | Mapping[str, object] | None = None,
) -> None:
    """Append one row inside the caller's transaction."""
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}; the actions are: {', '.join(sorted(ACTIONS))}")
    if isinstance(detail, Mapping):
        detail = json.dumps(dict(detail), sort_keys=True, default=str)
    if detail is not None and len(detail) > MAX_DETAIL:
        raise ValueError(f"audit detail is longer than {MAX_DETAIL} characters: ids and codes only")
    con.execute(
        "insert into audit (at, action, actor, org_id, target, detail) values (?, ?, ?, ?, ?, ?)",
        (
            ts(now),
            action,
            _field("actor", actor) or "unknown",
            _field("org_id", org_id),
            _field("target", target),
            detail,
        ),
    )


def audit(
    home: Path,
    action: str,
    *,
    actor: str,
    now: datetime,
    org_id: str | None = None,
    target: str | None = None,
    detail: str | Mapping[str, object] | None = None,
) -> None:
    """Record one action (see ACTIONS). Callers pass ids and hashes only: never memory text, a password or
    a token."""
    with transaction(home) as con:
        write(con, action, actor=actor, now=now, org_id=org_id, target=target, detail=detail)


def read_audit(home: Path, *, limit: int = 500) -> list[dict]:
    """The newest `limit` rows, newest first."""
    limit = max(0, min(int(limit), 100_000))
    with connect(home) as con:
        cur = con.execute(
            "select audit_id, at, action, actor, org_id, target, detail from audit "
            "order by audit_id desc limit ?",
            (limit,),
        )
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur]
