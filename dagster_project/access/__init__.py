"""Access control (issue 19): users, per-org grants, API tokens, password logins, sessions and the audit.

Dagster-free; everything lives in the home's control store. The CLI (`workstream users`) is trusted:
whoever can read the home can manage its users. See docs/security.md.
"""

from dagster_project.access.audit_log import ACTIONS, audit, read_audit
from dagster_project.access.auth import (
    authenticate_password,
    authenticate_token,
    end_session,
    session_principal,
    start_session,
)
from dagster_project.access.model import AccessError, LoginResult, Principal, Role
from dagster_project.access.users import (
    add_user,
    issue_token,
    list_users,
    principal_for_email,
    remove,
    revoke,
)

__all__ = [
    "ACTIONS",
    "AccessError",
    "LoginResult",
    "Principal",
    "Role",
    "add_user",
    "audit",
    "authenticate_password",
    "authenticate_token",
    "end_session",
    "issue_token",
    "list_users",
    "principal_for_email",
    "read_audit",
    "remove",
    "revoke",
    "session_principal",
    "start_session",
]
