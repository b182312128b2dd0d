"""The Access page's tables, from the access store's listings (`access.list_users`, `access.read_audit`).

Only named fields are copied into the tables, so a field the store might add later (a hash, say) is not
shown until someone decides it should be. No table holds a secret: tokens are listed by id and dates.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import polars as pl

from streamlit_app.lib import ui

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


def when(value: Any) -> str | None:
    """A time of the access store (a datetime, or ISO text) to the minute in UTC, as the other pages show
    times; text that is no time is shown as it is."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value)
        except ValueError:
            return value
    return ui.format_ts(value) if isinstance(value, dt.datetime) else str(value)


def emails_by_id(users: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """User id → email of the users the store still holds (a removed user's audit rows keep the id)."""
    return {u["user_id"]: u["email"] for u in users if u.get("user_id") and u.get("email")}


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
            "created_at": when(u.get("created_at")),
        }
        for u in users
    ]
    return pl.DataFrame(rows, schema=USER_COLUMNS)


def tokens_table(users: Iterable[Mapping[str, Any]]) -> pl.DataFrame:
    """Every token by id with its dates (never its secret, which the store does not keep)."""
    rows = [
        {
            "email": u.get("email"),
            "token_id": None if t.get("token_id") is None else str(t.get("token_id")),
            **{k: when(t.get(k)) for k in TOKEN_COLUMNS[2:]},
        }
        for u in users
        for t in u.get("tokens") or ()
    ]
    return pl.DataFrame(rows, schema=dict.fromkeys(TOKEN_COLUMNS, pl.String))


def audit_table(rows: Sequence[Mapping[str, Any]], emails: Mapping[str, str] | None = None) -> pl.DataFrame:
    """The audit rows, newest first as the store returns them. The store writes ids and hashes only; an
    actor or target that is a user the store still holds is shown by email (`emails`: id → email)."""
    emails = emails or {}

    def shown(key: str, value: Any) -> str | None:
        if value is None:
            return None
        if key == "at":
            return when(value)
        return emails.get(str(value), str(value)) if key in ("actor", "target") else str(value)

    data = [{k: shown(k, r.get(k)) for k in AUDIT_COLUMNS} for r in rows]
    return pl.DataFrame(data, schema=dict.fromkeys(AUDIT_COLUMNS, pl.String))
