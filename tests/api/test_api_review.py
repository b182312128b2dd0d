"""A security review's probes of the API's bearer auth and OIDC: header shapes, live grants, claims."""

from __future__ import annotations

import json
from pathlib import Path

import jwt
import pytest
from fastapi.testclient import TestClient
from jwt.algorithms import RSAAlgorithm

from dagster_project.access import auth, read_audit, remove
from dagster_project.api import create_app
from dagster_project.api.auth import NOT_AUTHENTICATED
from dagster_project.api.oidc import OidcSettings
from tests.api.access_helpers import CLOCK, NOW, bearer, token_for
from tests.api.test_api import A, B, publish
from tests.api.test_api_oidc import AUDIENCE, ISSUER, _claims, _client, _token, jwks_url, keys  # noqa: F401

TODAY = f"/orgs/{A}/today"


@pytest.fixture(autouse=True)
def _no_cached_verifications():
    auth._cache.clear()
    yield
    auth._cache.clear()


@pytest.fixture
def home(tmp_path: Path, keys: dict) -> Path:  # noqa: F811
    from tests.api.test_api_oidc import _jwks

    publish(tmp_path)
    (tmp_path / "jwks.json").write_text(json.dumps(_jwks(keys)))
    return tmp_path


def test_two_authorization_headers_are_refused_even_when_one_is_valid(home) -> None:
    token = token_for(home, "ann@example.com", "viewer", [A])
    with TestClient(create_app(home, clock=CLOCK)) as client:
        for pair in ([token, "ws_" + "0" * 12 + "_" + "x" * 43], ["garbage", token], [token, token]):
            headers = [("Authorization", f"Bearer {value}") for value in pair]
            r = client.get(TODAY, headers=headers)
            assert r.status_code == 401, pair
            assert r.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(
    ("header", "status"),
    [
        ("Bearer {t}", 200),
        ("bearer {t}", 200),  # the scheme is case-insensitive (RFC 9110)
        ("BEARER {t}", 200),
        ("Bearer  {t}", 200),  # RFC 9110 allows one or more spaces after the scheme
        ("Bearer\t{t}", 401),
        ("Basic {t}", 401),
        ("{t}", 401),
        ("Bearer {t}x", 401),
        ("Bearer {T}", 401),  # the token is case-sensitive
    ],
)
def test_the_bearer_header_is_read_strictly(home, header, status) -> None:
    token = token_for(home, "ann@example.com", "viewer", [A])
    value = header.replace("{t}", token).replace("{T}", token.upper())
    with TestClient(create_app(home, clock=CLOCK)) as client:
        assert client.get(TODAY, headers={"Authorization": value}).status_code == status


def test_a_grant_removed_is_gone_on_the_next_request(home) -> None:
    token = token_for(home, "ann@example.com", "viewer", [A, B])
    with TestClient(create_app(home, clock=CLOCK), headers=bearer(token)) as client:
        assert client.get(f"/orgs/{B}/today").status_code == 200
        remove(home, "ann@example.com", [B], now=NOW)
        assert client.get(f"/orgs/{B}/today").status_code == 404
        assert client.get(TODAY).status_code == 200


@pytest.mark.parametrize("org", ["Acme", "ACME", "ａｃｍｅ", "acme\u200b", "acm\u0435"])
def test_an_org_id_that_only_looks_like_a_granted_one_reads_nothing(home, org) -> None:
    token = token_for(home, "ann@example.com", "viewer", [A])
    with TestClient(create_app(home, clock=CLOCK), headers=bearer(token)) as client:
        # 422 (not an org id) or the fixed 404: never the granted org's rows.
        assert client.get(f"/orgs/{org}/today").status_code in (404, 422)


def test_an_oidc_org_claim_in_another_case_or_width_grants_nothing(home, keys) -> None:  # noqa: F811
    with _client(home, org_claim="orgs") as client:
        for claim in (["ACME"], ["ａｃｍｅ"], {"Acme": "governor"}):
            assert client.get(TODAY, headers=bearer(_token(keys, orgs=claim))).status_code in (401, 404)


def test_an_oidc_email_maps_to_a_user_only_when_the_provider_says_it_is_verified(home, keys) -> None:  # noqa: F811
    token_for(home, "ada@example.com", "viewer", [A])
    with _client(home) as client:
        assert client.get(TODAY, headers=bearer(_token(keys, email_verified=None))).status_code == 401
        assert client.get(TODAY, headers=bearer(_token(keys, email_verified="true"))).status_code == 401
        assert client.get(TODAY, headers=bearer(_token(keys, email_verified=True))).status_code == 200


def test_an_oidc_audience_list_holding_ours_is_accepted_and_one_without_is_not(home, keys) -> None:  # noqa: F811
    with _client(home, org_claim="orgs") as client:
        ours = _token(keys, orgs=[A], aud=["another-api", "workstream-api"])
        theirs = _token(keys, orgs=[A], aud=["another-api", "workstream-api-x"])
        assert client.get(TODAY, headers=bearer(ours)).status_code == 200
        assert client.get(TODAY, headers=bearer(theirs)).status_code == 401


def test_an_oidc_token_without_a_key_id_matches_no_key_even_one_without_an_id(home, keys) -> None:  # noqa: F811
    jwk = RSAAlgorithm.to_jwk(keys["rsa"].public_key(), as_dict=True) | {"use": "sig"}
    (home / "jwks.json").write_text(json.dumps({"keys": [jwk]}))
    no_kid = jwt.encode(_claims(orgs=[A]), keys["rsa"], algorithm="RS256")
    with _client(home, org_claim="orgs") as client:
        assert client.get(TODAY, headers=bearer(no_kid)).status_code == 401


@pytest.mark.parametrize("org", ["Acme", "..%2f..%2fetc", "a" * 200, "acme'--", "%ff%fe"])
def test_a_caller_without_a_token_learns_nothing_from_an_org_id_it_sends(home, org) -> None:
    with TestClient(create_app(home, clock=CLOCK)) as client:
        r = client.get(f"/orgs/{org}/today")
        # 401 before the org id is looked at; an encoded `/` makes another path, Starlette's fixed 404.
        assert (r.status_code, r.json()) in (
            (401, {"detail": NOT_AUTHENTICATED}),
            (404, {"detail": "Not Found"}),
        )


def test_an_oidc_token_signed_with_one_key_type_and_naming_another_key_is_refused(home, keys) -> None:  # noqa: F811
    ec_as_rsa = _token(keys, key="ec", alg="ES256", kid="rsa-1", orgs=[A])
    rsa_as_ec = _token(keys, key="rsa", alg="RS256", kid="ec-1", orgs=[A])
    with _client(home, org_claim="orgs") as client:
        for token in (ec_as_rsa, rsa_as_ec):
            assert client.get(TODAY, headers=bearer(token)).status_code == 401
    rows = [r for r in read_audit(home, limit=2) if r["action"] == "token.rejected"]
    assert [json.loads(r["detail"])["reason"] for r in rows] == ["algorithm does not fit the key"] * 2


def _b64(data: bytes) -> str:
    import base64

    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


ODD_HEADERS = [
    b"[]",
    b'"RS256"',
    b'{"alg": "RS256", "kid": 123}',
    b'{"alg": "RS256", "kid": ["rsa-1"]}',
    b'{"alg": "RS256", "kid": {"a": 1}}',
    b'{"alg": ["RS256"], "kid": "rsa-1"}',
    b'{"alg": "RS256", "kid": "rsa-1", "crit": ["exp"]}',
    b'{"alg": "RS256", "kid": "rsa-1", "jku": "https://evil.example.test/jwks"}',
    b"\xff\xfe",
    b"{" * 5000,
]


@pytest.mark.parametrize("header", ODD_HEADERS, ids=range(len(ODD_HEADERS)))
def test_an_oidc_token_with_an_odd_header_is_a_401_never_a_500(home, keys, header) -> None:  # noqa: F811
    token = f"{_b64(header)}.{_b64(json.dumps(_claims(orgs=[A])).encode())}.{_b64(b'sig')}"
    with _client(home, org_claim="orgs") as client:
        assert client.get(TODAY, headers=bearer(token)).status_code == 401
    with TestClient(create_app(home, clock=CLOCK, oidc=None)) as client:
        assert client.get(TODAY, headers=bearer(token)).status_code == 401


@pytest.mark.parametrize("header", ODD_HEADERS[2:6], ids=range(4))
def test_an_odd_key_id_is_a_401_when_the_keys_come_from_a_url_too(home, keys, jwks_url, header) -> None:  # noqa: F811
    token = f"{_b64(header)}.{_b64(json.dumps(_claims(orgs=[A])).encode())}.{_b64(b'sig')}"
    oidc = OidcSettings(issuer=ISSUER, audience=AUDIENCE, jwks=jwks_url, org_claim="orgs")
    with TestClient(create_app(home, clock=CLOCK, oidc=oidc)) as client:
        assert client.get(TODAY, headers=bearer(token)).status_code == 401


@pytest.mark.parametrize(
    "value",
    [b"Bearer \xe9.\xe9.\xe9", b"Bearer ws_\xe9\xe9", b"Bearer " + b"x" * 20000, b"Bearer " + b"ws_" * 5000],
    ids=["latin-1 jwt", "latin-1 ws", "long", "long ws"],
)
def test_an_authorization_header_of_odd_bytes_is_a_401(home, value) -> None:
    for oidc in (True, False):
        client = _client(home, org_claim="orgs") if oidc else TestClient(create_app(home, clock=CLOCK))
        with client:
            assert client.get(TODAY, headers=[(b"Authorization", value)]).status_code == 401


def test_a_user_removed_mid_session_is_refused_at_the_door_by_oidc_as_by_a_token(home, keys) -> None:  # noqa: F811
    token = token_for(home, "ada@example.com", "admin")
    jwt_token = _token(keys, email_verified=True)
    with _client(home) as client:
        for bearer_token in (token, jwt_token):
            assert client.get(TODAY, headers=bearer(bearer_token)).status_code == 200
        remove(home, "ada@example.com", now=NOW)
        for bearer_token in (token, jwt_token):
            r = client.get(TODAY, headers=bearer(bearer_token))
            assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    assert '"no access"' in read_audit(home, limit=1)[0]["detail"]
