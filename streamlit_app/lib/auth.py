"""Who is using the dashboard: the sign-in before any page, the session, and the principal pages read.

Two ways in, both ending in a `dagster_project.access.Principal` kept for the run:

- Embedded (the default): an email + password form checked against the user table
  (`access.authenticate_password`, which slows down and then locks repeated failures). A success starts
  a server-side session (`access.start_session`); only its opaque id is kept in `st.session_state`, and
  every rerun asks the store again (`access.session_principal`), so the idle and absolute timeouts, a
  revoked user and changed grants take effect on the next click. A reload of the browser tab starts a
  new Streamlit session and asks to sign in again.
- OIDC (production): when `.streamlit/secrets.toml` has an `[auth]` section, the button calls
  Streamlit's own `st.login()`; the provider's email (`st.user.email`) is looked up in the user table
  (`access.principal_for_email`), so grants still come from Workstream, not from the provider.

A failed sign-in shows one message whatever the cause (unknown email, wrong password), so the form does
not tell which emails have an account; a lockout says how long to wait.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from pathlib import Path

import streamlit as st

from dagster_project import access
from dagster_project.access import Principal
from dagster_project.settings import default_clock
from streamlit_app.lib import settings

# Session-state keys: the store's opaque session id, and the principal of the current run.
SESSION_KEY = "auth_session_id"
PRINCIPAL_KEY = "auth_principal"
# Why the last session ended, shown once above the sign-in form.
NOTICE_KEY = "auth_notice"

BAD_CREDENTIALS = "Sign-in failed: the email or the password is not correct."
SESSION_ENDED = "Your session has ended. Sign in again."
NO_ACCOUNT = "Your account has no access to Workstream. Ask an admin to add you, then sign in again."


def locked_message(retry_after_s: int) -> str:
    """A lockout (minutes) or the growing wait between failed attempts (seconds), rounded up."""
    if retry_after_s >= 60:
        return f"Sign-in locked after too many failed attempts: try again in {math.ceil(retry_after_s / 60)} min."
    return f"Too many failed sign-ins: try again in {max(1, retry_after_s)} s."


def oidc_configured() -> bool:
    """True when `secrets.toml` has an `[auth]` section: then Streamlit's OIDC login is the way in."""
    try:
        return "auth" in st.secrets
    except FileNotFoundError:  # no secrets.toml at all
        return False


def principal() -> Principal:
    """The signed-in principal of this run (set by `require_login`, which every page runs behind)."""
    found = st.session_state.get(PRINCIPAL_KEY)
    if not isinstance(found, Principal):
        # Pages run only after `require_login`; reaching here means a page was run on its own.
        st.error("Sign in first.", icon=":material/lock:")
        st.stop()
    return found


def require_login(keep_page: Callable[[], object] | None = None) -> Principal:
    """The signed-in principal; otherwise the sign-in form (or button) is shown and the run stops.

    `keep_page` runs before the stop: the router declares its pages there (hidden), so Streamlit keeps
    the page the URL asked for and a deep link (an item page, say) opens after the sign-in.
    """
    home = settings.workstream_home()
    found = _oidc_principal(home) if oidc_configured() else _session_principal(home)
    if found is None:
        st.session_state.pop(PRINCIPAL_KEY, None)
        if keep_page is not None:
            keep_page()
        st.stop()
    st.session_state[PRINCIPAL_KEY] = found
    return found


def _session_principal(home: Path) -> Principal | None:
    session_id = st.session_state.get(SESSION_KEY)
    if session_id:
        found = access.session_principal(home, session_id, now=default_clock().now())
        if found is not None:
            return found
        st.session_state.pop(SESSION_KEY, None)
        st.session_state[NOTICE_KEY] = SESSION_ENDED
    _password_form(home)
    return None


def _password_form(home: Path) -> None:
    st.title("Sign in to Workstream")
    if notice := st.session_state.pop(NOTICE_KEY, None):
        st.info(notice, icon=":material/lock_clock:")
    with st.form("sign_in"):
        email = st.text_input("Email", key="sign_in_email", autocomplete="username")
        password = st.text_input(
            "Password", type="password", key="sign_in_password", autocomplete="current-password"
        )
        submitted = st.form_submit_button("Sign in", type="primary")
    if not submitted:
        return
    now = default_clock().now()
    try:
        result = access.authenticate_password(home, email or "", password or "", now=now)
    except access.AccessError:
        # Not an email at all: the same answer as a wrong password.
        st.error(BAD_CREDENTIALS, icon=":material/error:")
        return
    if result.reason == "locked":
        st.error(locked_message(result.retry_after_s), icon=":material/lock_clock:")
        return
    if result.principal is None:
        st.error(BAD_CREDENTIALS, icon=":material/error:")
        return
    st.session_state[SESSION_KEY] = access.start_session(home, result.principal, now=now)
    # The password never stays in the session once it has been checked.
    st.session_state.pop("sign_in_password", None)
    st.rerun()


def _oidc_principal(home: Path) -> Principal | None:
    if not st.user.is_logged_in:
        st.title("Sign in to Workstream")
        if st.button("Sign in", type="primary", icon=":material/login:"):
            st.login()
        return None
    found = access.principal_for_email(home, str(st.user.get("email") or ""), via="oidc")
    if found is None:
        st.title("Sign in to Workstream")
        st.error(NO_ACCOUNT, icon=":material/block:")
        if st.button("Sign out", icon=":material/logout:"):
            st.logout()
    return found


def role_label(who: Principal) -> str:
    """`admin`, or the roles the principal holds per org (`viewer`, `governor, viewer`)."""
    return "admin" if who.is_admin else ", ".join(sorted(set(who.grants.values()))) or "no grants"


def sign_out_button() -> None:
    """The way out: ends the store's session (or the OIDC login) and shows the sign-in again."""
    if not st.button("Sign out", icon=":material/logout:", key="sign_out"):
        return
    st.session_state.pop(PRINCIPAL_KEY, None)
    if session_id := st.session_state.pop(SESSION_KEY, None):
        access.end_session(settings.workstream_home(), session_id, now=default_clock().now())
    if oidc_configured():
        st.logout()
    st.rerun()


def record_denied(who: Principal, what: str, requested: str | None = None) -> None:
    """Audit a refusal (`access.denied`): who, what was refused, and what was asked for only as a hash
    prefix, since a URL can carry any text."""
    target = what
    if requested is not None:
        target += f":sha256:{hashlib.sha256(requested.encode('utf-8', 'replace')).hexdigest()[:16]}"
    home, now = settings.workstream_home(), default_clock().now()
    access.audit(home, "access.denied", actor=who.user_id, now=now, target=target)
