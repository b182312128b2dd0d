"""API tokens: the format, expiry, revocation, and that only their hashes are ever stored."""

from __future__ import annotations

import re
import sqlite3
from datetime import timedelta

import pytest

from dagster_project.access import add_user, auth, authenticate_token, issue_token, read_audit, revoke


@pytest.fixture(autouse=True)
def _no_cached_verifications():
    """Each test starts without the in-process cache of verified tokens."""
    auth._cache.clear()
    yield
    auth._cache.clear()


def test_a_token_is_ws_then_its_id_then_a_secret_and_authenticates_its_user(home, t0) -> None:
    principal, token_id, token = add_user(home, "ann@example.com", "viewer", ["org-001"], now=t0)
    assert re.fullmatch(r"ws_[0-9a-f]{12}_[A-Za-z0-9_-]{43}", token)
    assert token.split("_")[1] == token_id
    got = authenticate_token(home, token, now=t0)
    assert got is not None and got.user_id == principal.user_id and got.via == "token"
    assert dict(got.grants) == {"org-001": "viewer"}


@pytest.mark.parametrize(
    "forged",
    [
        None,
        "",
        "Bearer",
        "ws_nothex000000_" + "a" * 43,
        "ws_" + "0" * 12 + "_" + "a" * 43,
        "x" * 100_000,
        "ws_' or 1=1 --_" + "a" * 43,
        b"ws_bytes",
    ],
)
def test_a_forged_or_malformed_token_authenticates_nobody_and_is_audited(home, t0, forged) -> None:
    add_user(home, "ann@example.com", "viewer", ["org-001"], now=t0)
    assert authenticate_token(home, forged, now=t0) is None
    assert read_audit(home, limit=1)[0]["action"] == "token.rejected"


def test_a_token_with_a_real_id_but_another_secret_is_rejected(home, t0) -> None:
    _, token_id, token = add_user(home, "ann@example.com", "viewer", ["org-001"], now=t0)
    assert authenticate_token(home, token, now=t0) is not None  # and now cached as verified
    forged = f"ws_{token_id}_{'A' * 43}"
    assert authenticate_token(home, forged, now=t0) is None
    assert '"mismatch"' in read_audit(home, limit=1)[0]["detail"]


def test_a_token_expires_at_its_expiry_and_not_before(home, t0) -> None:
    add_user(home, "ann@example.com", "admin", now=t0)
    _, token = issue_token(home, "ann@example.com", expires_in_days=2, now=t0)
    assert authenticate_token(home, token, now=t0 + timedelta(days=2, seconds=-1)) is not None
    assert authenticate_token(home, token, now=t0 + timedelta(days=2)) is None
    assert '"expired"' in read_audit(home, limit=1)[0]["detail"]


def test_a_revoked_token_is_refused_at_once_even_when_just_verified(home, t0) -> None:
    _, token_id, token = add_user(home, "ann@example.com", "viewer", ["org-001"], now=t0)
    _, other = issue_token(home, "ann@example.com", now=t0)
    assert authenticate_token(home, token, now=t0) is not None
    assert revoke(home, "ann@example.com", token_id=token_id, now=t0) == 1
    assert authenticate_token(home, token, now=t0 + timedelta(seconds=1)) is None
    assert authenticate_token(home, other, now=t0 + timedelta(seconds=1)) is not None


def test_grants_are_read_at_each_authentication(home, t0) -> None:
    _, _, token = add_user(home, "ann@example.com", "viewer", ["org-001"], now=t0)
    assert authenticate_token(home, token, now=t0).readable_orgs(["org-001", "org-002"]) == ["org-001"]
    add_user(home, "ann@example.com", "viewer", ["org-002"], now=t0)
    assert authenticate_token(home, token, now=t0).readable_orgs(["org-001", "org-002"]) == [
        "org-001",
        "org-002",
    ]


def _every_text_in(path) -> str:
    """Every value of every table of the SQLite file, and its raw bytes (WAL included), as text."""
    con = sqlite3.connect(path)
    try:
        tables = [r[0] for r in con.execute("select name from sqlite_master where type = 'table'")]
        values = [str(v) for t in tables for row in con.execute(f'select * from "{t}"') for v in row]
    finally:
        con.close()
    raw = b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
    return "\n".join(values) + raw.decode("latin-1")


def test_tokens_passwords_and_session_ids_are_stored_only_as_hashes(home, t0) -> None:
    from dagster_project.access import authenticate_password, start_session

    password = "correct horse battery staple"
    principal, token_id, token = add_user(
        home, "ann@example.com", "viewer", ["org-001"], password=password, now=t0
    )
    _, second = issue_token(home, "ann@example.com", now=t0)
    session = start_session(home, principal, now=t0)
    authenticate_token(home, token, now=t0)
    authenticate_token(home, f"ws_{token_id}_{'B' * 43}", now=t0)  # a forged one is audited
    authenticate_password(home, "ann@example.com", "wrong password!", now=t0)
    text = _every_text_in(home / "control.sqlite")
    assert token_id in text  # the search does see what is stored
    for secret in (token, token.split("_", 2)[2], second, password, session, "B" * 43):
        assert secret not in text
    assert "$argon2id$" in text


def test_the_audit_names_a_rejected_token_by_a_hash_prefix_only(home, t0) -> None:
    add_user(home, "ann@example.com", "viewer", ["org-001"], now=t0)
    forged = "ws_" + "0" * 12 + "_" + "s3cr3t" * 8
    authenticate_token(home, forged, now=t0, source="api")
    (row,) = [r for r in read_audit(home) if r["action"] == "token.rejected"]
    assert row["target"].startswith("sha256:")
    assert "s3cr3t" not in repr(row) and forged not in repr(row)
