"""Access (admins only): the users, their grants, their tokens (ids and dates, never a secret) and the
audit trail of the access store. Changes are made with `workstream users …` on the machine that holds the
home; this page only reads.

Non-admins do not see it in the navigation, and opening its URL shows a refusal and nothing else.
"""

from __future__ import annotations

import streamlit as st

from dagster_project import access
from streamlit_app.lib import auth, settings, ui
from streamlit_app.lib.views import access as view

AUDIT_ROWS = 500

st.title("Access")
who = auth.principal()
if not who.is_admin:
    auth.record_denied(who, "page:access")
    st.error("**Admins only.** Your account may not open this page.", icon=":material/block:")
    st.stop()

home = settings.workstream_home()
users = access.list_users(home)
st.caption(
    f"{len(users)} user(s) in `{ui.escape_markdown(str(home))}`. Add, grant and revoke with "
    "`workstream users add|token|revoke --home DIR`; this page only reads."
)

st.subheader("Users and grants")
# Columns not named here are headed from their names (`ui.labelled`): Email, Role, Password, Action, …
ui.labelled_table(
    view.users_table(users),
    {
        "user_id": "User id",
        "grants": st.column_config.TextColumn("Grants", help="org: role; admins read every org."),
        "active_tokens": st.column_config.NumberColumn("Active tokens", help="Tokens not revoked."),
        "created_at": "Created (UTC)",
    },
)

st.subheader("API tokens")
st.caption("Token ids and dates only: a token's secret is shown once, when it is issued, and never stored.")
ui.labelled_table(
    view.tokens_table(users),
    {
        "token_id": "Token id",
        "created_at": "Issued (UTC)",
        "expires_at": "Expires (UTC)",
        "revoked_at": "Revoked (UTC)",
    },
)

st.subheader("Audit")
audit = view.audit_table(access.read_audit(home, limit=AUDIT_ROWS), view.emails_by_id(users))
st.caption(
    f"The newest {audit.height} row(s), newest first. The store keeps ids and hashes only, never memory "
    "text or secrets; users it still holds are shown here by email."
)
ui.labelled_table(audit, {"at": "When (UTC)", "actor": "By", "org_id": "Org"})
