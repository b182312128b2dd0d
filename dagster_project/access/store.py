"""The access tables in the control store (`<home>/control.sqlite`), the hasher, and how times are kept.

Secrets never reach a table: passwords and API tokens are stored as argon2id hashes (argon2-cffi), and
session ids, failed-login keys and the audit's token references as SHA-256 digests (they are random or
only need to be matched, not verified slowly).
"""

from __future__ import annotations

import functools
import hashlib
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from argon2 import PasswordHasher, profiles

from dagster_project.access.model import Principal, Role
from dagster_project.control import store as control_store
from dagster_project.settings import HomePaths

# Test suites set this to make argon2 cheap (hashes of a few bytes, one pass): never in a real home.
# A hash records its own parameters, so hashes made either way still verify.
ENV_CHEAP_HASHES = "WORKSTREAM_TEST_CHEAP_HASHES"

SCHEMA = """
create table if not exists users (
    user_id text primary key,
    email text not null unique,
    is_admin integer not null default 0,
    password_hash text,
    created_at text not null,
    created_by text not null
);
create table if not exists grants (
    user_id text not null references users(user_id),
    org_id text not null,
    role text not null check (role in ('viewer', 'governor')),
    granted_at text not null,
    granted_by text not null,
    primary key (user_id, org_id)
);
create table if not exists tokens (
    token_id text primary key,
    user_id text not null references users(user_id),
    secret_hash text not null,
    created_at text not null,
    expires_at text,
    revoked_at text
);
create index if not exists tokens_by_user on tokens(user_id);
create table if not exists audit (
    audit_id integer primary key autoincrement,
    at text not null,
    action text not null,
    actor text not null,
    org_id text,
    target text,
    detail text
);
create table if not exists login_failures (
    email_key text primary key,
    failures integer not null,
    last_failed_at text not null,
    locked_until text
);
create index if not exists login_failures_by_time on login_failures(last_failed_at);
create table if not exists sessions (
    session_key text primary key,
    user_id text not null references users(user_id),
    via text not null,
    created_at text not null,
    last_seen_at text not null,
    expires_at text not null
);
create index if not exists sessions_by_user on sessions(user_id);
"""


@functools.cache
def _hasher(cheap: bool) -> PasswordHasher:
    return PasswordHasher.from_parameters(profiles.CHEAPEST) if cheap else PasswordHasher()


def hasher() -> PasswordHasher:
    """argon2id with argon2-cffi's defaults (RFC 9106's low-memory profile), or the test profile."""
    return _hasher(os.environ.get(ENV_CHEAP_HASHES, "") == "1")


def digest(text: str) -> str:
    """SHA-256 hex of a value that must be matched but never stored (session ids, token references)."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def ts(now: datetime) -> str:
    """A fixed-width UTC text, so stored times compare as text and read back exactly."""
    if not isinstance(now, datetime) or now.tzinfo is None:
        raise ValueError("`now` must be a timezone-aware datetime (the injectable clock's)")
    return now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_ts(text: str | None) -> datetime | None:
    if text is None:
        return None
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


_prepare_lock = threading.Lock()
# The control store holds password and token hashes, sessions and the audit: readable by its owner only.
OWNER_ONLY = 0o600
_TABLES = ("users", "grants", "tokens", "audit", "login_failures", "sessions")
# One cheap read per connection instead of the schema script: the script runs only when a table is
# missing (a new store, or one replaced on disk), so a request opens one plain connection.
_HAS_TABLES = (
    "select count(*) from sqlite_master where type = 'table' and name in ("
    + ", ".join("?" * len(_TABLES))
    + ")"
)


def _prepare(path: Path) -> None:
    """Create the control store owner-only (a new home's directory too), with WAL mode and every table."""
    with _prepare_lock:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        # Created here with its mode rather than by SQLite under the umask; SQLite gives the -wal and
        # -shm files the mode of the database file.
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, OWNER_ONLY))
        for part in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            if part.exists():
                part.chmod(OWNER_ONLY)  # a store made before this rule, or by another package
        with control_store.connect(path) as con:
            con.executescript(SCHEMA)


@contextmanager
def connect(home: Path) -> Iterator[sqlite3.Connection]:
    """The home's control store with the access tables (created when missing); autocommit, so writers
    open `begin immediate` themselves."""
    path = HomePaths(Path(home)).control
    try:
        open_to_others = path.stat().st_mode & 0o077
    except FileNotFoundError:
        open_to_others = True
    if open_to_others:
        _prepare(path)
    con = sqlite3.connect(path, timeout=30, isolation_level=None)
    try:
        if con.execute(_HAS_TABLES, _TABLES).fetchone()[0] < len(_TABLES):
            _prepare(path)
        con.execute("pragma foreign_keys=on")
        yield con
    finally:
        con.close()


@contextmanager
def transaction(home: Path) -> Iterator[sqlite3.Connection]:
    """One write transaction: everything in it (the change and its audit row) lands together or not at all."""
    with connect(home) as con:
        con.execute("begin immediate")
        try:
            yield con
        except BaseException:
            con.execute("rollback")
            raise
        con.execute("commit")


def load_principal(con: sqlite3.Connection, user_id: str, via: str) -> Principal | None:
    """The user's principal with the grants as they are now; None when there is no such user."""
    row = con.execute("select email, is_admin from users where user_id = ?", (user_id,)).fetchone()
    if row is None:
        return None
    grants: dict[str, Role] = {
        org: role
        for org, role in con.execute(
            "select org_id, role from grants where user_id = ? order by org_id", (user_id,)
        )
    }
    return Principal(user_id=user_id, email=row[0], is_admin=bool(row[1]), grants=grants, via=via)


def user_id_for(con: sqlite3.Connection, email: str) -> str | None:
    row = con.execute("select user_id from users where email = ?", (email,)).fetchone()
    return None if row is None else row[0]
