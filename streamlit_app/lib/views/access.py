"""The Access page's tables, from the access store's listings (`access.list_users`, `access.read_audit`).

Only named fields are copied into the tables, so a field the store might add later (a hash, say) is not
shown until someone decides it should be. No table holds a secret: tokens are listed by id and dates.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import polars as pl

USER_COLUMNS: dict[str, type[pl.DataType]] = {
    "email": pl.String,
    "user_id": pl.String,
    "role": pl.String,
    "grants": pl.String,
    "password": pl.String,
    "active_tokens": pl.Int64,
    "created_at": pl.String,
}
TOKEN_COLUMNS = ("email", "token_id", "created_at", "expires_at", "revoked_at")
AUDIT_COLUMNS = ("at", "action", "actor", "org_id", "target", "detail")


def grants_text(grants: Mapping[str, str] | None) -> str:
    """`acme: governor, globex: viewer`, sorted by org; empty for none (an admin's grants are global)."""
    return ", ".join(f"{org}: {role}" for org, role in sorted((grants or {}).items()))


def _active(token: Mapping[str, Any]) -> bool:
    return not token.get("revoked_at")


def users_table(users: Iterable[Mapping[str, Any]]) -> pl.DataFrame:
    """One row per user: who, role, grants, whether a password is set, how many tokens are not revoked."""
    rows = [
        {
            "email": u.get("email"),
            "user_id": u.get("user_id"),
            "role": "admin" if u.get("is_admin") else (u.get("role") or None),
            "grants": "all orgs" if u.get("is_admin") else grants_text(u.get("grants")) or None,
            "password": "set" if u.get("has_password") else "none",
            "active_tokens": sum(1 for t in u.get("tokens") or () if _active(t)),
            "created_at": None if u.get("created_at") is None else str(u.get("created_at")),
        }
        for u in users
    ]
    return pl.DataFrame(rows, schema=USER_COLUMNS)


def tokens_table(users: Iterable[Mapping[str, Any]]) -> pl.DataFrame:
    """Every token by id with its dates (never its secret, which the store does not keep)."""
    rows = [
        {
            "email": u.get("email"),
            **{k: None if t.get(k) is None else str(t.get(k)) for k in TOKEN_COLUMNS[1:]},
        }
        for u in users
        for t in u.get("tokens") or ()
    ]
    return pl.DataFrame(rows, schema=dict.fromkeys(TOKEN_COLUMNS, pl.String))


def audit_table(rows: Sequence[Mapping[str, Any]]) -> pl.DataFrame:
    """The audit rows, newest first as the store returns them: ids and hashes only, as the store writes them."""
    data = [{k: None if r.get(k) is None else str(r.get(k)) for k in AUDIT_COLUMNS} for r in rows]
    return pl.DataFrame(data, schema=dict.fromkeys(AUDIT_COLUMNS, pl.String))
