"""Hostile values reaching the access store from a login form or a header: a clean refusal, never an
exception from SQLite or the hasher."""

from __future__ import annotations

import pytest

from dagster_project.access import (
    AccessError,
    add_user,
    authenticate_password,
    authenticate_token,
    principal_for_email,
    session_principal,
)

UNDECODABLE = "\udcff\udcfe"  # what undecodable bytes become in a str (surrogateescape)
PASSWORD = "correct horse battery staple"


@pytest.fixture
def token_id(home, t0) -> str:
    return add_user(home, "ann@example.com", "viewer", ["org-001"], password=PASSWORD, now=t0)[1]


@pytest.mark.parametrize(
    ("email", "password"),
    [
        ("ann@example.com", UNDECODABLE * 8),
        (f"ann{UNDECODABLE}@example.com", PASSWORD),
        ("ann@example.com\x00", PASSWORD),
        ("' or 1=1 --", "' or 1=1 --"),
        ("a" * 100_000, "b" * 100_000),
        (None, None),
        (12, ["not", "text"]),
    ],
)
def test_a_hostile_login_is_bad_credentials(home, t0, token_id, email, password) -> None:
    result = authenticate_password(home, email, password, now=t0)
    assert result.reason == "bad_credentials" and result.principal is None


@pytest.mark.parametrize("secret", [UNDECODABLE * 22, "\x00" * 43, "é" * 43])
def test_a_token_with_a_real_id_and_a_non_ascii_secret_is_rejected(home, t0, token_id, secret) -> None:
    assert authenticate_token(home, f"ws_{token_id}_{secret}", now=t0) is None


def test_undecodable_text_is_refused_when_adding_a_user(home, t0) -> None:
    with pytest.raises(AccessError, match="email"):
        add_user(home, f"b{UNDECODABLE}@example.com", "admin", now=t0)
    with pytest.raises(AccessError, match="password"):
        add_user(home, "b@example.com", "admin", password=UNDECODABLE * 8, now=t0)
    assert principal_for_email(home, f"b{UNDECODABLE}@example.com") is None


def test_a_hostile_session_id_has_no_principal(home, t0, token_id) -> None:
    for session_id in (UNDECODABLE, "x" * 10_000, "' or 1=1 --", 42):
        assert session_principal(home, session_id, now=t0) is None
