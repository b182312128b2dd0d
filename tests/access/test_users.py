"""Users, roles and grants: who may read and govern which org, and what the store refuses."""

from __future__ import annotations

from datetime import timedelta

import pytest

from dagster_project.access import (
    AccessError,
    Principal,
    add_user,
    issue_token,
    list_users,
    principal_for_email,
    revoke,
)
from dagster_project.serving.reader import OrgScope


def test_a_viewer_reads_only_the_orgs_granted_and_governs_none(home, t0) -> None:
    principal, _, _ = add_user(home, "ann@example.com", "viewer", ["org-001"], now=t0)
    assert principal.can_read("org-001")
    assert not principal.can_read("org-002")
    assert not principal.can_govern("org-001")
    assert principal.readable_orgs(["org-003", "org-002", "org-001"]) == ["org-001"]
    assert principal.scope(["org-001", "org-002"]) == OrgScope(["org-001"])


def test_a_governor_governs_its_org_only(home, t0) -> None:
    add_user(home, "gov@example.com", "governor", ["org-002"], now=t0)
    principal, _, _ = add_user(home, "gov@example.com", "viewer", ["org-003"], now=t0)
    assert principal.can_govern("org-002")
    assert not principal.can_govern("org-003")
    assert principal.readable_orgs(["org-001", "org-002", "org-003"]) == ["org-002", "org-003"]


def test_an_admin_reads_and_governs_every_org_without_grants(home, t0) -> None:
    principal, _, _ = add_user(home, "root@example.com", "admin", now=t0)
    assert principal.is_admin and dict(principal.grants) == {}
    assert principal.can_read("org-009") and principal.can_govern("org-009")
    assert principal.readable_orgs(["org-002", "org-001"]) == ["org-001", "org-002"]


def test_emails_are_stored_stripped_and_lower_cased(home, t0) -> None:
    add_user(home, "  Ann@Example.COM ", "viewer", ["org-001"], now=t0)
    assert [u["email"] for u in list_users(home)] == ["ann@example.com"]
    assert principal_for_email(home, "ANN@example.com").email == "ann@example.com"
    assert principal_for_email(home, "nobody@example.com") is None


@pytest.mark.parametrize(
    ("role", "orgs", "message"),
    [
        ("admin", ["org-001"], "without --org"),
        ("viewer", [], "--org"),
        ("governor", [], "--org"),
        ("owner", ["org-001"], "unknown role"),
        ("viewer", ["../org-001"], "org id"),
        ("viewer", ["Acme.Corp"], "org id"),  # the contract's org ids are lower case, no dots
        ("viewer", ["org'; drop table users; --"], "org id"),
    ],
)
def test_bad_roles_and_org_ids_are_refused_and_nothing_is_written(home, t0, role, orgs, message) -> None:
    with pytest.raises(AccessError, match=message):
        add_user(home, "ann@example.com", role, orgs, now=t0)
    assert list_users(home) == []


@pytest.mark.parametrize(
    "email", ["", "no-at-sign", "two@@example.com", "sp ace@example.com", "a" * 300 + "@x"]
)
def test_a_malformed_email_is_refused(home, t0, email) -> None:
    with pytest.raises(AccessError, match="email"):
        add_user(home, email, "admin", now=t0)


def test_a_short_password_is_refused(home, t0) -> None:
    with pytest.raises(AccessError, match="password"):
        add_user(home, "ann@example.com", "admin", password="short", now=t0)


def test_an_admin_gets_no_org_grant_and_a_promoted_user_loses_theirs(home, t0) -> None:
    add_user(home, "root@example.com", "admin", now=t0)
    with pytest.raises(AccessError, match="admin"):
        add_user(home, "root@example.com", "viewer", ["org-001"], now=t0)
    add_user(home, "ann@example.com", "viewer", ["org-001"], now=t0)
    promoted, _, _ = add_user(home, "ann@example.com", "admin", now=t0)
    assert promoted.is_admin and dict(promoted.grants) == {}


def test_the_listing_shows_grants_and_token_ids_but_no_hash(home, t0) -> None:
    _, first_id, first = add_user(
        home, "ann@example.com", "viewer", ["org-001"], password="a-long-password", now=t0
    )
    second_id, second = issue_token(home, "ann@example.com", expires_in_days=30, now=t0)
    (user,) = list_users(home)
    assert user["grants"] == {"org-001": "viewer"} and user["has_password"]
    assert [t["token_id"] for t in user["tokens"]] == [first_id, second_id]
    text = repr(user)
    assert "argon2" not in text and first not in text and second not in text


def test_revoking_without_an_id_revokes_every_token_once(home, t0) -> None:
    add_user(home, "ann@example.com", "viewer", ["org-001"], now=t0)
    issue_token(home, "ann@example.com", now=t0)
    assert revoke(home, "ann@example.com", now=t0) == 2
    assert revoke(home, "ann@example.com", now=t0) == 0
    assert all(t["revoked_at"] for t in list_users(home)[0]["tokens"])


def test_revoking_a_token_of_another_user_is_refused(home, t0) -> None:
    add_user(home, "ann@example.com", "viewer", ["org-001"], now=t0)
    _, bob_token_id, _ = add_user(home, "bob@example.com", "viewer", ["org-002"], now=t0)
    with pytest.raises(AccessError, match="no token"):
        revoke(home, "ann@example.com", token_id=bob_token_id, now=t0)
    with pytest.raises(AccessError, match="no user"):
        issue_token(home, "carol@example.com", now=t0)


@pytest.mark.parametrize("days", [0, -1, 100_000])
def test_an_expiry_out_of_range_is_refused(home, t0, days) -> None:
    with pytest.raises(AccessError, match="expires-in"):
        add_user(home, "ann@example.com", "admin", expires_in_days=days, now=t0 + timedelta(0))
    assert list_users(home) == []


def test_a_principal_handed_to_a_reader_cannot_be_widened(home, t0) -> None:
    principal, _, _ = add_user(home, "ann@example.com", "viewer", ["org-001"], now=t0)
    assert isinstance(principal, Principal)
    with pytest.raises(TypeError):
        principal.grants["org-002"] = "viewer"  # type: ignore[index]
    with pytest.raises(AccessError):
        principal.scope(["org-002"])
