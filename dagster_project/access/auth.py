"""Logging in: API tokens, passwords (slowed down, then locked, after repeated failures) and sessions.

Every function takes `now` from the injectable clock, so throttling, lockout and timeouts are testable.
"""

from __future__ import annotations

import contextlib
import functools
import math
import secrets
import sqlite3
import threading
from collections import OrderedDict
from datetime import datetime, timedelta
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from dagster_project.access import audit_log
from dagster_project.access.model import AccessError, LoginResult, Principal, canonical_email, is_text
from dagster_project.access.store import (
    connect,
    digest,
    hasher,
    load_principal,
    parse_ts,
    transaction,
    ts,
    user_id_for,
)
from dagster_project.access.users import MAX_PASSWORD_LENGTH, parse_token, token_row

# Failed password logins per email: after THROTTLE_AFTER failures each further attempt waits
# THROTTLE_BASE_S, doubling per failure; at LOCK_AFTER failures the email is locked for LOCKOUT_S.
# Failures are forgotten FAILURE_MEMORY_S after the last one, and when a login succeeds.
THROTTLE_AFTER = 3
THROTTLE_BASE_S = 2
LOCK_AFTER = 10
LOCKOUT_S = 15 * 60
FAILURE_MEMORY_S = 15 * 60
# Sessions (the dashboards' login) end after this long without a request, and this long after login.
SESSION_IDLE_S = 30 * 60
SESSION_ABSOLUTE_S = 8 * 60 * 60
# A session's idle clock is restarted at most this often: every rerun of a page (each click) reads the
# session, and a write for each would take the control store's write lock, which the pipeline shares.
# The clock then lags by less than this, so a session may end that much early, never late.
SESSION_TOUCH_S = 60
# A verified token is remembered this long in this process (keyed by the token's SHA-256, never the
# token), so a page of API calls costs one argon2 verify; expiry and revocation are still read each time.
TOKEN_CACHE_S = 60
TOKEN_CACHE_SIZE = 1024

_cache: OrderedDict[tuple[str, str], tuple[str, datetime]] = OrderedDict()
_cache_lock = threading.Lock()


def _cached(key: tuple[str, str], secret_hash: str, now: datetime) -> bool:
    with _cache_lock:
        entry = _cache.get(key)
    if entry is None:
        return False
    stored_hash, at = entry
    return stored_hash == secret_hash and timedelta(0) <= now - at <= timedelta(seconds=TOKEN_CACHE_S)


def _remember(key: tuple[str, str], secret_hash: str, now: datetime) -> None:
    with _cache_lock:
        _cache[key] = (secret_hash, now)
        _cache.move_to_end(key)
        while len(_cache) > TOKEN_CACHE_SIZE:
            _cache.popitem(last=False)


def _reject(
    con: sqlite3.Connection,
    now: datetime,
    source: str,
    reason: str,
    *,
    target: str,
    token_id: str | None = None,
) -> None:
    detail = {"reason": reason, "source": str(source)[:40]}
    if token_id is not None:
        detail["token_id"] = token_id
    con.execute("begin immediate")
    try:
        audit_log.write(con, "token.rejected", actor="anonymous", now=now, target=target, detail=detail)
    except BaseException:
        con.execute("rollback")
        raise
    con.execute("commit")


def _token_ref(token: object) -> str:
    """How the audit names a token it could not trust: the start of its SHA-256, never the token."""
    if not isinstance(token, str):
        return "sha256:non-text"
    return "sha256:" + digest(token)[:16]


@functools.cache
def _dummy_hash(ph: PasswordHasher) -> str:
    return ph.hash(secrets.token_urlsafe(16))


def _dummy_verify(plaintext: str) -> None:
    """As slow as checking a real secret, so the answer's timing does not tell which token ids exist."""
    with contextlib.suppress(VerificationError, InvalidHashError):
        hasher().verify(_dummy_hash(hasher()), plaintext)


def authenticate_token(home: Path, token: object, *, now: datetime, source: str = "api") -> Principal | None:
    """The principal of a valid API token; None (and an audit row) when it is malformed, unknown, wrong,
    revoked or expired. One connection to the control store per call."""
    with connect(home) as con:
        parsed = parse_token(token)
        if parsed is None:
            _reject(con, now, source, "malformed", target=_token_ref(token))
            return None
        token_id, plaintext = parsed
        row = token_row(con, token_id)
        if row is None:
            _dummy_verify(plaintext)
            _reject(con, now, source, "unknown", target=_token_ref(token))
            return None
        user_id, secret_hash, expires_at, revoked_at = row
        key = (str(Path(home).resolve()), digest(plaintext))
        if not _cached(key, secret_hash, now):
            try:
                hasher().verify(secret_hash, plaintext)
            except (VerificationError, InvalidHashError):
                _reject(con, now, source, "mismatch", target=_token_ref(token), token_id=token_id)
                return None
            _remember(key, secret_hash, now)
        if revoked_at is not None:
            _reject(con, now, source, "revoked", target=user_id, token_id=token_id)
            return None
        if expires_at is not None and now >= expires_at:
            _reject(con, now, source, "expired", target=user_id, token_id=token_id)
            return None
        return load_principal(con, user_id, "token")


def _wait_s(failures: int) -> int:
    """Seconds to wait after `failures` failed logins before the next attempt is looked at."""
    if failures < THROTTLE_AFTER:
        return 0
    return THROTTLE_BASE_S * 2 ** (failures - THROTTLE_AFTER)


def _failures(con: sqlite3.Connection, email_key: str, now: datetime) -> tuple[int, int]:
    """(failures that still count, seconds until an attempt is looked at)."""
    row = con.execute(
        "select failures, last_failed_at, locked_until from login_failures where email_key = ?",
        (email_key,),
    ).fetchone()
    if row is None:
        return 0, 0
    failures, last_failed_at, locked_until = row[0], parse_ts(row[1]), parse_ts(row[2])
    if locked_until is not None:
        if now < locked_until:
            return failures, math.ceil((locked_until - now).total_seconds())
        return 0, 0  # the lock has run out: a fresh start
    if (now - last_failed_at).total_seconds() > FAILURE_MEMORY_S:
        return 0, 0
    ready_at = last_failed_at + timedelta(seconds=_wait_s(failures))
    return failures, max(0, math.ceil((ready_at - now).total_seconds()))


def authenticate_password(home: Path, email: object, password: object, *, now: datetime) -> LoginResult:
    """Check an email and password. Failures per email are counted (for unknown emails too, so the answer
    does not tell which exist): after a few, each attempt must wait longer; then the email is locked for
    a while. An attempt that comes too early is answered `locked` without looking at the password."""
    try:
        email_text = canonical_email(email)
    except AccessError:
        email_text = None  # no user has it; its failures are still counted, under its hash
    email_key = digest(email_text or str(email)[:320].strip().lower())
    with transaction(home) as con:
        # Failures that no longer count go, so emails tried once (a spray of guesses) do not pile up.
        con.execute(
            "delete from login_failures where last_failed_at < ? and (locked_until is null or locked_until < ?)",
            (ts(now - timedelta(seconds=FAILURE_MEMORY_S)), ts(now)),
        )
        failures, retry_after = _failures(con, email_key, now)
        user_id = None if email_text is None else user_id_for(con, email_text)
        row = con.execute("select password_hash from users where user_id = ?", (user_id,)).fetchone()
        # The audit names a known user by id, an unknown email only by the start of its hash.
        target = user_id or f"sha256:{email_key[:16]}"
        if retry_after > 0:
            audit_log.write(
                con, "login.locked", actor="anonymous", now=now, target=target,
                detail={"retry_after_s": retry_after},
            )  # fmt: skip
            return LoginResult(None, "locked", retry_after)
        # Counted as a failure before the password is looked at (a success clears it): attempts made
        # at the same time each see the ones before, so they cannot all slip through the wait.
        failures += 1
        locked_until = now + timedelta(seconds=LOCKOUT_S) if failures >= LOCK_AFTER else None
        con.execute(
            "insert into login_failures (email_key, failures, last_failed_at, locked_until) values (?, ?, ?, ?) "
            "on conflict (email_key) do update set failures = excluded.failures, "
            "last_failed_at = excluded.last_failed_at, locked_until = excluded.locked_until",
            (email_key, failures, ts(now), None if locked_until is None else ts(locked_until)),
        )
    stored = row[0] if row else None
    ok = False
    if isinstance(password, str) and 0 < len(password) <= MAX_PASSWORD_LENGTH and is_text(password):
        try:
            # No user or no password: verify against a throwaway hash anyway, so both take as long.
            ok = hasher().verify(stored or _dummy_hash(hasher()), password) and stored is not None
        except (VerificationError, InvalidHashError):
            ok = False
    # A hash made with other parameters (older defaults, the tests' cheap profile) is replaced by one
    # made with the current ones while the password is at hand; hashed before the write lock is taken.
    rehashed = hasher().hash(password) if ok and hasher().check_needs_rehash(stored) else None
    with transaction(home) as con:
        if ok:
            con.execute("delete from login_failures where email_key = ?", (email_key,))
            if rehashed is not None:
                con.execute(
                    "update users set password_hash = ? where user_id = ? and password_hash = ?",
                    (rehashed, user_id, stored),
                )
            audit_log.write(
                con, "login.ok", actor=user_id, now=now, target=user_id, detail={"via": "password"}
            )
            return LoginResult(load_principal(con, user_id, "password"), "ok", 0)
        audit_log.write(
            con, "login.failed", actor="anonymous", now=now, target=target, detail={"failures": failures}
        )
        if locked_until is not None:
            audit_log.write(
                con, "login.locked", actor="anonymous", now=now, target=target,
                detail={"retry_after_s": LOCKOUT_S},
            )  # fmt: skip
            return LoginResult(None, "locked", LOCKOUT_S)
    return LoginResult(None, "bad_credentials", _wait_s(failures))


def start_session(home: Path, principal: Principal, *, now: datetime, ttl_s: int = SESSION_ABSOLUTE_S) -> str:
    """An opaque session id for a logged-in principal (the table keeps its SHA-256 only)."""
    if not isinstance(ttl_s, int) or ttl_s <= 0:
        raise AccessError("a session lasts a positive number of seconds")
    session_id = secrets.token_urlsafe(32)
    with transaction(home) as con:
        # Sessions that can no longer be used go (a browser closed without logging out leaves one).
        con.execute(
            "delete from sessions where expires_at <= ? or last_seen_at < ?",
            (ts(now), ts(now - timedelta(seconds=SESSION_IDLE_S))),
        )
        con.execute(
            "insert into sessions (session_key, user_id, via, created_at, last_seen_at, expires_at) "
            "values (?, ?, ?, ?, ?, ?)",
            (
                digest(session_id),
                principal.user_id,
                principal.via,
                ts(now),
                ts(now),
                ts(now + timedelta(seconds=ttl_s)),
            ),
        )
    return session_id


def session_principal(home: Path, session_id: object, *, now: datetime) -> Principal | None:
    """The principal of a live session (grants as they are now), its idle clock restarted (at most once
    per SESSION_TOUCH_S); None when the session is unknown, idle for longer than SESSION_IDLE_S, or past
    its absolute end."""
    if not isinstance(session_id, str) or not 0 < len(session_id) <= 128:
        return None
    key = digest(session_id)
    with connect(home) as con:
        row = con.execute(
            "select user_id, via, last_seen_at, expires_at from sessions where session_key = ?", (key,)
        ).fetchone()
        if row is None:
            return None
        user_id, via, last_seen_at, expires_at = row[0], row[1], parse_ts(row[2]), parse_ts(row[3])
        if now >= expires_at or (now - last_seen_at).total_seconds() > SESSION_IDLE_S:
            con.execute("begin immediate")
            con.execute("delete from sessions where session_key = ?", (key,))
            con.execute("commit")
            return None
        if (now - last_seen_at).total_seconds() >= SESSION_TOUCH_S:
            con.execute("begin immediate")
            try:
                # Ended (signed out) since the read: no principal.
                touched = con.execute(
                    "update sessions set last_seen_at = ? where session_key = ?", (ts(now), key)
                ).rowcount
                con.execute("commit")
            except BaseException:
                con.execute("rollback")
                raise
            if not touched:
                return None
        return load_principal(con, user_id, via)


def end_session(home: Path, session_id: object, *, now: datetime) -> None:
    """Log out: the session is gone (nothing happens for an unknown one)."""
    if not isinstance(session_id, str) or len(session_id) > 128:
        return
    with transaction(home) as con:
        con.execute("delete from sessions where session_key = ?", (digest(session_id),))
