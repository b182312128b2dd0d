"""Who a caller is and what they may read: roles, the principal every reader is handed, input checks."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Literal, get_args

from dagster_project.contract.events import ORG_ID_PATTERN

if TYPE_CHECKING:  # the scope is built on demand: importing the reader (duckdb) is not needed to log in
    from dagster_project.serving.reader import OrgScope

Role = Literal["viewer", "governor", "admin"]
ROLES: tuple[str, ...] = get_args(Role)
# Roles held per org; `admin` is global and given without an org.
ORG_ROLES: tuple[str, ...] = ("viewer", "governor")
Via = Literal["token", "password", "oidc", "cli"]

# An email is an identifier here, not a mailbox to deliver to: one `@`, no spaces or control characters.
_EMAIL = re.compile(r"^[^@\s\x00-\x1f\x7f]{1,64}@[^@\s\x00-\x1f\x7f]{1,189}$")
# The contract's org id: a grant names an org exactly as its events do (and never a path or SQL).
_ORG_ID = re.compile(ORG_ID_PATTERN)


class AccessError(ValueError):
    """Bad input to the access store (unknown role, admin with an org, viewer without one, unknown user …):
    the message says what is wrong and is safe to show."""


@dataclass(frozen=True)
class Principal:
    """An authenticated user as every reader sees them: the grants are read from the store at login."""

    user_id: str
    email: str
    is_admin: bool
    grants: Mapping[str, Role] = field(default_factory=dict)
    via: str = "token"

    def __post_init__(self) -> None:
        # Read-only, so a page or route cannot widen a principal it was handed.
        object.__setattr__(self, "grants", MappingProxyType(dict(self.grants)))

    def can_read(self, org_id: str) -> bool:
        return self.is_admin or org_id in self.grants

    def can_govern(self, org_id: str) -> bool:
        """Admin, or governor of that org: may request redactions and corrections of its memory."""
        return self.is_admin or self.grants.get(org_id) == "governor"

    def readable_orgs(self, known_org_ids: Iterable[str]) -> list[str]:
        return sorted({o for o in known_org_ids if isinstance(o, str) and self.can_read(o)})

    def scope(self, known_org_ids: Iterable[str]) -> OrgScope:
        """The reader scope of the orgs this principal may read among `known_org_ids`; AccessError when
        there is none (an empty scope would be a reader of nothing, so say so instead)."""
        from dagster_project.serving.reader import OrgScope

        orgs = self.readable_orgs(known_org_ids)
        if not orgs:
            raise AccessError(f"{self.email} has no grant for any org of this snapshot")
        return OrgScope(orgs)


@dataclass(frozen=True)
class LoginResult:
    """What a password login gave: the principal, or why not and how long to wait before trying again."""

    principal: Principal | None
    reason: Literal["ok", "bad_credentials", "locked"]
    retry_after_s: int = 0


def canonical_email(email: object) -> str:
    """Stripped and lower-cased; AccessError for anything that is not an email-shaped identifier."""
    if not isinstance(email, str):
        raise AccessError("an email is required")
    value = email.strip().lower()
    if not _EMAIL.fullmatch(value) or not is_text(value):
        raise AccessError("not an email address (one @, no spaces, at most 254 characters)")
    return value


def is_text(value: str) -> bool:
    """Encodable as UTF-8: a str from a request can carry lone surrogates (undecodable bytes)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def check_org_id(org_id: object) -> str:
    if not isinstance(org_id, str) or not _ORG_ID.fullmatch(org_id):
        raise AccessError(
            "an org id is 1-64 lowercase letters, digits, '-' or '_', starting with a letter or digit"
        )
    return org_id


def check_role(role: object) -> Role:
    if role not in ROLES:
        raise AccessError(f"unknown role {str(role)[:40]!r}; the roles are: {', '.join(ROLES)}")
    return role  # type: ignore[return-value]
