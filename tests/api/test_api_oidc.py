"""OIDC access tokens: checked against a key set generated here and served from a file or this machine."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from fastapi.testclient import TestClient
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from dagster_project.access import read_audit
from dagster_project.api import create_app
from dagster_project.api.oidc import OidcConfigError, OidcSettings, settings_from_options
from tests.api.access_helpers import CLOCK, NOW, bearer, token_for
from tests.api.test_api import A, B, publish

ISSUER = "https://login.example.test/realms/workstream"
AUDIENCE = "workstream-api"


@pytest.fixture(scope="module")
def keys() -> dict:
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ec_key = ec.generate_private_key(ec.SECP256R1())
    return {
        "rsa": rsa_key,
        "ec": ec_key,
        "stranger": rsa.generate_private_key(public_exponent=65537, key_size=2048),
    }


def _jwks(keys: dict) -> dict:
    rsa_jwk = RSAAlgorithm.to_jwk(keys["rsa"].public_key(), as_dict=True) | {"kid": "rsa-1", "use": "sig"}
    ec_jwk = ECAlgorithm.to_jwk(keys["ec"].public_key(), as_dict=True) | {"kid": "ec-1", "use": "sig"}
    return {"keys": [rsa_jwk, ec_jwk]}


@pytest.fixture
def home(tmp_path: Path, keys: dict) -> Path:
    publish(tmp_path)
    (tmp_path / "jwks.json").write_text(json.dumps(_jwks(keys)))
    return tmp_path


def _claims(**overrides) -> dict:
    claims = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "user-123",
        "email": "Ada@Example.com",
        "email_verified": True,
        "iat": int(NOW.timestamp()),
        "exp": int((NOW + timedelta(minutes=5)).timestamp()),
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def _token(keys: dict, *, key: str = "rsa", alg: str = "RS256", kid: str = "rsa-1", **claims) -> str:
    return jwt.encode(_claims(**claims), keys[key], algorithm=alg, headers={"kid": kid})


def _client(home: Path, **settings) -> TestClient:
    oidc = OidcSettings(issuer=ISSUER, audience=AUDIENCE, jwks=str(home / "jwks.json"), **settings)
    return TestClient(create_app(home, clock=CLOCK, oidc=oidc))


def test_a_valid_token_reads_the_orgs_of_its_claim_and_no_other(home, keys):
    with _client(home, org_claim="orgs") as client:
        for token in (
            _token(keys, orgs=[A]),
            _token(keys, key="ec", alg="ES256", kid="ec-1", orgs={A: "governor"}),
        ):
            assert client.get(f"/orgs/{A}/today", headers=bearer(token)).status_code == 200
            other = client.get(f"/orgs/{B}/today", headers=bearer(token))
            assert other.status_code == 404 and other.json() == {"detail": "Not Found"}


def test_without_an_org_claim_the_grants_come_from_the_user_table_by_email(home, keys):
    token_for(home, "ada@example.com", "viewer", [B])
    with _client(home) as client:
        assert client.get(f"/orgs/{B}/today", headers=bearer(_token(keys))).status_code == 200
        assert client.get(f"/orgs/{A}/today", headers=bearer(_token(keys))).status_code == 404
        # An email the user table does not know is no one.
        stranger = _token(keys, email="eve@example.com")
        assert client.get(f"/orgs/{B}/today", headers=bearer(stranger)).status_code == 401
        unverified = _token(keys, email_verified=False)
        assert client.get(f"/orgs/{B}/today", headers=bearer(unverified)).status_code == 401


def test_tokens_that_fail_a_check_are_401_and_audited(home, keys):
    public_pem = (
        keys["rsa"]
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    unsigned = jwt.encode(_claims(orgs=[A]), None, algorithm="none", headers={"kid": "rsa-1"})
    # The classic confusion: HS256 keyed with the provider's public key (PyJWT refuses to sign it).
    confused = _hs256({"alg": "HS256", "typ": "JWT", "kid": "rsa-1"}, _claims(orgs=[A]), public_pem)
    rejected = {
        "wrong issuer": _token(keys, orgs=[A], iss="https://evil.example.test"),
        "wrong audience": _token(keys, orgs=[A], aud="another-api"),
        "expired by the app's clock": _token(
            keys, orgs=[A], exp=int((NOW - timedelta(minutes=5)).timestamp())
        ),
        "not yet valid": _token(keys, orgs=[A], nbf=int((NOW + timedelta(hours=1)).timestamp())),
        "no expiry": _token(keys, orgs=[A], exp=None),
        "signed by another key": _token(keys, key="stranger", orgs=[A]),
        "unknown key id": _token(keys, kid="nope", orgs=[A]),
        "alg none": unsigned,
        "HS256 with the public key": confused,
        "no org claim": _token(keys),
        "a malformed org claim": _token(keys, orgs=[{"org": A}]),
        "tampered": _token(keys, orgs=[B])[:-6] + "AAAAAA",
        "not a jwt": "definitely-not-a-token",
    }
    with _client(home, org_claim="orgs") as client:
        for name, token in rejected.items():
            r = client.get(f"/orgs/{A}/today", headers=bearer(token))
            assert r.status_code == 401, name
            assert r.headers["www-authenticate"] == "Bearer", name
    rows = [r for r in read_audit(home, limit=100) if r["action"] == "token.rejected"]
    assert len(rows) == len(rejected)
    assert not any(token in repr(rows) for token in rejected.values())


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _hs256(header: dict, claims: dict, secret: bytes) -> str:
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


class _JwksHandler(BaseHTTPRequestHandler):
    body = b""

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *_args) -> None:
        pass


@pytest.fixture
def jwks_url(keys: dict) -> Iterator[str]:
    handler = type("Handler", (_JwksHandler,), {"body": json.dumps(_jwks(keys)).encode()})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/jwks"
    finally:
        server.shutdown()
        server.server_close()


def test_the_key_set_can_come_from_the_providers_url(home, keys, jwks_url):
    oidc = OidcSettings(issuer=ISSUER, audience=AUDIENCE, jwks=jwks_url, org_claim="orgs")
    with TestClient(create_app(home, clock=CLOCK, oidc=oidc)) as client:
        assert client.get(f"/orgs/{A}/today", headers=bearer(_token(keys, orgs=[A]))).status_code == 200
        forged = _token(keys, key="stranger", orgs=[A])
        assert client.get(f"/orgs/{A}/today", headers=bearer(forged)).status_code == 401


def test_built_in_tokens_still_work_beside_oidc(home, keys):
    token = token_for(home, "bob@example.com", "viewer", [A])
    with _client(home, org_claim="orgs") as client:
        assert client.get(f"/orgs/{A}/today", headers=bearer(token)).status_code == 200
        assert client.get(f"/orgs/{B}/today", headers=bearer(token)).status_code == 404


def test_oidc_settings_come_all_together_and_only_from_safe_places(home):
    assert settings_from_options(None, None, None, None, "email") is None
    with pytest.raises(OidcConfigError, match="--oidc-audience"):
        settings_from_options(ISSUER, None, str(home / "jwks.json"), None, "email")
    with pytest.raises(OidcConfigError, match="https"):
        settings_from_options(ISSUER, AUDIENCE, "http://keys.example.test/jwks", None, "email")
    with pytest.raises(OidcConfigError, match="no JWKS file"):
        settings_from_options(ISSUER, AUDIENCE, str(home / "nope.json"), None, "email")
    ok = settings_from_options(ISSUER, AUDIENCE, "https://keys.example.test/jwks", "orgs", "email")
    assert ok is not None and ok.org_claim == "orgs"
