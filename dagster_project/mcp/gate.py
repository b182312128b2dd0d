"""Who is calling the MCP server and which orgs they may read: the access-control tokens (`access`).

Over HTTP every request carries `Authorization: Bearer <token>`: the SDK's bearer middleware refuses a
request without a valid one (401) through `TokenCheck`, and each tool call authenticates the token of
its own request again (`Gate.principal`), so a revoked token stops working at once. Over stdio the
process runs with the one token of `WORKSTREAM_TOKEN`, checked at start and again on every call.

An org the caller may not read is answered exactly like an org that does not exist: the message names
the org asked for and the caller's own orgs, never anything of another org.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import anyio.to_thread

from dagster_project.access import Principal, authenticate_token
from dagster_project.settings import Clock, default_clock

if TYPE_CHECKING:
    from mcp.server.auth.provider import AccessToken

ENV_TOKEN = "WORKSTREAM_TOKEN"
AUDIT_SOURCE = "mcp"


class Refused(PermissionError):
    """The call may not go on: no valid token, or an org the token does not grant."""


def bearer(headers: Mapping[str, str] | None) -> str | None:
    """The token of an `Authorization: Bearer …` header, if any."""
    value = (headers or {}).get("authorization") or ""
    scheme, _, token = value.partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


class Gate:
    """Authenticates each call and resolves the org it may read."""

    def __init__(self, home: Path, *, token: str | None = None, clock: Clock | None = None) -> None:
        self.home = home
        self.token = token  # stdio: the process's one token; HTTP: None (each request brings its own)
        self.clock = clock or default_clock()

    def authenticate(self, token: str | None) -> Principal | None:
        if not token:
            return None
        return authenticate_token(self.home, token, now=self.clock.now(), source=AUDIT_SOURCE)

    def principal(self, headers: Mapping[str, str] | None) -> Principal:
        found = self.authenticate(self.token or bearer(headers))
        if found is None:
            raise Refused("the token is not valid (unknown, revoked or expired): ask an admin for a new one")
        return found

    def org(self, principal: Principal, org_id: str | None, known: Callable[[], list[str]]) -> str:
        """The org a call reads: the one asked for if the token may read it, else the token's only org."""
        if org_id is not None:
            if principal.can_read(org_id):
                return org_id
            raise Refused(
                f"no org {org_id!r} among the orgs this token can read ({self._mine(principal, known)})"
            )
        readable = principal.readable_orgs(known()) if principal.is_admin else sorted(principal.grants)
        if len(readable) == 1:
            return readable[0]
        if not readable:
            raise Refused("this token grants no org")
        raise Refused(f"this token can read several orgs: pass `org_id`, one of {', '.join(readable)}")

    @staticmethod
    def _mine(principal: Principal, known: Callable[[], list[str]]) -> str:
        orgs = principal.readable_orgs(known()) if principal.is_admin else sorted(principal.grants)
        return ", ".join(orgs) or "none"


class TokenCheck:
    """The SDK's `TokenVerifier` over the access-control tokens (HTTP transport)."""

    def __init__(self, gate: Gate) -> None:
        self.gate = gate

    async def verify_token(self, token: str) -> AccessToken | None:
        from mcp.server.auth.provider import AccessToken  # the SDK loads with the server, not the gate

        principal = await anyio.to_thread.run_sync(self.gate.authenticate, token)
        if principal is None:
            return None
        return AccessToken(token=token, client_id=principal.user_id, scopes=[], subject=principal.email)


def token_from_env() -> str | None:
    return os.environ.get(ENV_TOKEN) or None
