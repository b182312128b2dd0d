"""Who is calling: the bearer token of every data route, and the org check that answers 404.

A request carries `Authorization: Bearer <token>`: a token of the user table (`ws_…`, from
`workstream users add/token`, checked by `access.authenticate_token`) or, when the API was started with
OIDC settings, a provider's access token (`api.oidc`). Anything else (no header, another scheme, an
unknown, expired, revoked or forged token) is a 401 with `WWW-Authenticate: Bearer` and a fixed body;
each failed use is audited with the token's hash only.

An org route then asks `require_org`: an org the caller has no grant for and an org the snapshot does not
hold get the same 404, byte for byte (the body Starlette gives an unknown path), so the answers cannot be
used to list orgs. The route reads through `SnapshotStore.cursor(org_id)`, which sees that org's rows only.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Annotated

from fastapi import Depends, HTTPException, Request, Security
from fastapi import Path as PathParam
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from dagster_project.access import Principal, audit, authenticate_token
from dagster_project.api.oidc import OidcValidator, TokenRejected
from dagster_project.settings import Clock

# The built-in tokens' prefix (`ws_<token_id>_<secret>`); any other bearer goes to OIDC when it is on.
BUILTIN_PREFIX = "ws_"
# Longer than any access token a provider hands out: refused before it is parsed as a JWT.
MAX_JWT_CHARS = 16384

ORG_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"
OrgId = Annotated[str, PathParam(pattern=ORG_PATTERN, description="The tenant; every query is scoped to it.")]

NOT_AUTHENTICATED = "not authenticated: send `Authorization: Bearer <token>` with a valid token"
# Starlette's body for an unknown path: an org one may not read looks like a route that is not there.
NOT_FOUND = "Not Found"

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="bearer",
    description=(
        "A token printed by `workstream users add` / `workstream users token`, or, when the API runs "
        "with OIDC settings, an access token of the configured provider."
    ),
)


def unauthorized() -> HTTPException:
    return HTTPException(401, NOT_AUTHENTICATED, headers={"WWW-Authenticate": "Bearer"})


def org_not_found() -> HTTPException:
    return HTTPException(404, NOT_FOUND)


def token_ref(token: str) -> str:
    """How the audit names a rejected token (as `access` does): the start of its SHA-256, never the token."""
    return "sha256:" + hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()[:16]


class Authenticator:
    """Turns a bearer token into a principal (or None), auditing every failure."""

    def __init__(self, home: Path, clock: Clock, oidc: OidcValidator | None = None) -> None:
        self.home = home
        self.clock = clock
        self.oidc = oidc

    def __call__(self, token: str) -> Principal | None:
        now = self.clock.now()
        if self.oidc is None or token.startswith(BUILTIN_PREFIX):
            return authenticate_token(self.home, token, now=now, source="api")
        try:
            if len(token) > MAX_JWT_CHARS:
                raise TokenRejected("too long")
            return self.oidc.principal(token, now=now)
        except TokenRejected as exc:
            audit(self.home, "token.rejected", actor="anonymous", now=now, target=token_ref(token),
                  detail={"reason": exc.reason, "source": "api-oidc"})  # fmt: skip
            return None


def current_principal(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)]
) -> Principal:
    """The security dependency every data route declares (so the OpenAPI document names the scheme).

    A plain function: FastAPI runs it in its thread pool, so a hash check never blocks the event loop.
    """
    # Two Authorization headers are ambiguous (a proxy may have checked the other one): refused.
    if credentials is None or len(request.headers.getlist("authorization")) > 1:
        raise unauthorized()
    principal = request.app.state.authenticator(credentials.credentials)
    if principal is None:
        raise unauthorized()
    return principal


def require_org(
    request: Request, org_id: OrgId, principal: Annotated[Principal, Depends(current_principal)]
) -> str:
    """`org_id` from the path once the caller may read it and the snapshot holds it; else the 404."""
    authenticator: Authenticator = request.app.state.authenticator
    if not principal.can_read(org_id):
        audit(authenticator.home, "access.denied", actor=principal.user_id, now=authenticator.clock.now(),
              org_id=org_id, detail={"source": "api"})  # fmt: skip
        raise org_not_found()
    # Asked only once the grant holds: a caller without one never learns whether the org exists.
    if not request.app.state.store.holds(org_id):
        raise org_not_found()
    return org_id


# The org of an org route: declared by each route as `org_id: Org`.
Org = Annotated[str, Depends(require_org)]
