"""Taking access away: one org's grant, or everything a user could log in with and read."""

from __future__ import annotations

import pytest

from dagster_project.access import (
    AccessError,
    add_user,
    auth,
    authenticate_password,
    authenticate_token,
    principal_for_email,
    read_audit,
    remove,
    session_principal,
    start_session,
)

PASSWORD = "correct horse battery staple"


@pytest.fixture(autouse=True)
def _no_cached_verifications():
    auth._cache.clear()
    yield
    auth._cache.clear()


def test_removing_one_grant_keeps_the_others_and_applies_to_live_sessions(home, t0) -> None:
    principal, _, token = add_user(home, "ann@example.com", "viewer", ["org-001", "org-002"], now=t0)
    session = start_session(home, principal, now=t0)
    assert remove(home, "ann@example.com", ["org-001"], now=t0) == ["grant org-001"]
    assert authenticate_token(home, token, now=t0).readable_orgs(["org-001", "org-002"]) == ["org-002"]
    assert session_principal(home, session, now=t0).readable_orgs(["org-001", "org-002"]) == ["org-002"]
    assert read_audit(home, limit=1)[0]["action"] == "grant.removed"


def test_removing_a_user_leaves_no_way_in_and_nothing_to_read(home, t0) -> None:
    principal, _, token = add_user(home, "root@example.com", "admin", password=PASSWORD, now=t0)
    session = start_session(home, principal, now=t0)
    removed = remove(home, "root@example.com", now=t0)
    assert "admin role" in removed and "password" in removed
    assert authenticate_token(home, token, now=t0) is None
    assert authenticate_password(home, "root@example.com", PASSWORD, now=t0).principal is None
    assert session_principal(home, session, now=t0) is None
    oidc = principal_for_email(home, "root@example.com")
    assert not oidc.is_admin and oidc.readable_orgs(["org-001"]) == []


def test_a_removed_user_can_be_added_back(home, t0) -> None:
    add_user(home, "ann@example.com", "viewer", ["org-001"], now=t0)
    remove(home, "ann@example.com", now=t0)
    _, _, token = add_user(home, "ann@example.com", "viewer", ["org-002"], now=t0)
    assert dict(authenticate_token(home, token, now=t0).grants) == {"org-002": "viewer"}


def test_removing_a_grant_the_user_does_not_hold_is_refused(home, t0) -> None:
    add_user(home, "ann@example.com", "viewer", ["org-001"], now=t0)
    with pytest.raises(AccessError, match="no grant for org-002"):
        remove(home, "ann@example.com", ["org-001", "org-002"], now=t0)
    assert dict(principal_for_email(home, "ann@example.com").grants) == {"org-001": "viewer"}
    with pytest.raises(AccessError, match="no user"):
        remove(home, "bob@example.com", now=t0)
