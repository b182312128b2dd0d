"""OIDC access tokens for the API (the production path beside the built-in tokens).

Off unless `workstream api` gets `--oidc-issuer`, `--oidc-audience` and `--oidc-jwks`. A bearer that is
not a built-in token is then read as a JWT and accepted only when PyJWT verifies its signature with a key
of the provider's JWKS (fetched and cached by `PyJWKClient`; a file works too), the algorithm is one of
`ALGORITHMS` (asymmetric only: never `none`, never HS256 keyed with a public key), and the issuer and
audience are the configured ones. Expiry and not-before are checked against the injectable clock (PyJWT
would read the system clock), with a small leeway for clock skew.

The caller's orgs come from a claim (`--oidc-org-claim`: a list of org ids, read as viewer grants, or an
object of org id to role) or, without one, from the user table by the token's email
(`access.principal_for_email`), so the same grants serve passwords, tokens and OIDC.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import jwt

from dagster_project.access import Principal, principal_for_email

ALGORITHMS = ("RS256", "ES256")
ROLES = ("viewer", "governor")
LEEWAY_S = 30
# How long fetched keys are trusted before the JWKS is fetched again (an unknown key id refetches at once).
JWKS_LIFESPAN_S = 300
JWKS_TIMEOUT_S = 5


class TokenRejected(Exception):
    """The token is not acceptable; `reason` names why without repeating any of its content."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class OidcConfigError(ValueError):
    """The OIDC settings are incomplete or unsafe."""


@dataclass(frozen=True)
class OidcSettings:
    issuer: str
    audience: str
    jwks: str  # an https URL (http only to this machine) or the path of a JWKS file
    org_claim: str | None = None
    email_claim: str = "email"

    def jwks_source(self) -> str | Path:
        """The JWKS's URL (https, or http to this machine) or file; OidcConfigError for anything else."""
        parsed = urlparse(self.jwks)
        if parsed.scheme == "https":
            return self.jwks
        if parsed.scheme == "http":
            if not is_loopback(parsed.hostname or ""):
                raise OidcConfigError(
                    f"the JWKS must come over https (http only from this machine): {self.jwks}"
                )
            return self.jwks
        if parsed.scheme in ("", "file"):
            path = Path(parsed.path if parsed.scheme == "file" else self.jwks).expanduser().resolve()
            if not path.is_file():
                raise OidcConfigError(f"no JWKS file at {path}")
            return path
        raise OidcConfigError(f"the JWKS is neither an https URL nor a file: {self.jwks}")


def settings_from_options(
    issuer: str | None, audience: str | None, jwks: str | None, org_claim: str | None, email_claim: str
) -> OidcSettings | None:
    """None when no OIDC option is given (built-in tokens only); all three of issuer, audience and JWKS
    otherwise."""
    given = {"--oidc-issuer": issuer, "--oidc-audience": audience, "--oidc-jwks": jwks}
    if not any(given.values()) and not org_claim:
        return None
    missing = [name for name, value in given.items() if not value]
    if missing:
        raise OidcConfigError(f"OIDC needs {', '.join(given)} together; missing {', '.join(missing)}")
    settings = OidcSettings(issuer, audience, jwks, org_claim or None, email_claim)  # type: ignore[arg-type]
    settings.jwks_source()  # fail at start-up, not at the first request
    return settings


def is_loopback(host: str) -> bool:
    """localhost, or an address of this machine's loopback interface."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class JwksFile:
    """A JWKS kept in a file (PyJWKClient fetches URLs only): read again when the file changes, and
    matched by key id as PyJWKClient matches."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stamp: tuple[int, int] | None = None
        self._keys: list[jwt.PyJWK] = []

    def _current(self) -> list[jwt.PyJWK]:
        stat = self.path.stat()
        if (stat.st_mtime_ns, stat.st_size) != self._stamp:
            self._keys = jwt.PyJWKSet.from_json(self.path.read_text()).keys
            self._stamp = (stat.st_mtime_ns, stat.st_size)
        return self._keys

    def get_signing_key_from_jwt(self, token: str) -> jwt.PyJWK:
        kid = jwt.get_unverified_header(token).get("kid")
        # A token names its key, as PyJWKClient requires: no kid never matches a key that has none.
        for key in self._current():
            if kid and key.key_id == kid and key.public_key_use in (None, "sig"):
                return key
        raise jwt.PyJWKClientError("no key of the set matches the token's key id")


class OidcValidator:
    """Validates the provider's access tokens and maps them to a principal."""

    def __init__(self, home: Path, settings: OidcSettings) -> None:
        self.home = home
        self.settings = settings
        source = settings.jwks_source()
        self.jwks: JwksFile | jwt.PyJWKClient = (
            JwksFile(source)
            if isinstance(source, Path)
            else jwt.PyJWKClient(source, cache_keys=True, lifespan=JWKS_LIFESPAN_S, timeout=JWKS_TIMEOUT_S)
        )

    def claims(self, token: str, *, now: datetime) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise TokenRejected("not a JWT") from None
        if header.get("alg") not in ALGORITHMS:
            raise TokenRejected("algorithm not allowed")
        try:
            key = self.jwks.get_signing_key_from_jwt(token)
        except jwt.PyJWKClientConnectionError:
            raise TokenRejected("the provider's keys could not be fetched") from None
        except (jwt.PyJWTError, OSError, ValueError):
            raise TokenRejected("no key of the provider matches") from None
        # The key decides the algorithm: a token naming an EC key but saying RS256 (or the reverse) is
        # refused here, where PyJWT would raise a TypeError on the mismatched key.
        if key.algorithm_name not in ALGORITHMS or header.get("alg") != key.algorithm_name:
            raise TokenRejected("algorithm does not fit the key")
        try:
            claims = jwt.decode(
                token,
                key.key,
                algorithms=[key.algorithm_name],
                audience=self.settings.audience,
                issuer=self.settings.issuer,
                options={
                    "require": ["exp", "iss", "aud"],
                    # Checked below against the injectable clock instead of the system one.
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                },
            )
        except jwt.InvalidAudienceError:
            raise TokenRejected("wrong audience") from None
        except jwt.InvalidIssuerError:
            raise TokenRejected("wrong issuer") from None
        except jwt.InvalidSignatureError:
            raise TokenRejected("bad signature") from None
        except jwt.PyJWTError:
            raise TokenRejected("invalid token") from None
        instant = now.timestamp()
        exp = claims.get("exp")
        if not isinstance(exp, int | float) or instant >= exp + LEEWAY_S:
            raise TokenRejected("expired")
        nbf = claims.get("nbf")
        if nbf is not None and (not isinstance(nbf, int | float) or instant < nbf - LEEWAY_S):
            raise TokenRejected("not yet valid")
        return claims

    def principal(self, token: str, *, now: datetime) -> Principal:
        claims = self.claims(token, now=now)
        if claims.get("email_verified") is False:
            raise TokenRejected("email not verified")
        email = claims.get(self.settings.email_claim)
        if not isinstance(email, str) or "@" not in email:
            raise TokenRejected("no email claim")
        email = email.strip().lower()
        claim = self.settings.org_claim
        if claim is None:
            # The email is the identity here: only the provider's word that it was verified makes it so
            # (an absent claim is not that word).
            if claims.get("email_verified") is not True:
                raise TokenRejected("email not verified")
            principal = principal_for_email(self.home, email, via="oidc")
            if principal is None:
                raise TokenRejected("no such user")
            if not principal.is_admin and not principal.grants:
                # `users remove` keeps the row (for the audit); a removed user is no one, as with a token.
                raise TokenRejected("no access")
            return principal
        if claim not in claims:
            raise TokenRejected("no org claim")
        subject = str(claims.get("sub") or email)
        user_id = "oidc_" + hashlib.sha256(f"{self.settings.issuer}\n{subject}".encode()).hexdigest()[:12]
        return Principal(
            user_id=user_id, email=email, is_admin=False, grants=_grants(claims[claim]), via="oidc"
        )


def _grants(value: Any) -> dict[str, str]:
    """A claim's org grants: a list (or one) of org ids as viewer, or an object of org id to role."""
    if isinstance(value, str):
        value = [value]
    if isinstance(value, list) and all(isinstance(org, str) and org for org in value):
        return dict.fromkeys(value, "viewer")
    if isinstance(value, Mapping) and all(
        isinstance(org, str) and org and role in ROLES for org, role in value.items()
    ):
        return dict(value)
    raise TokenRejected("the org claim is neither a list of org ids nor an object of org id to role")
