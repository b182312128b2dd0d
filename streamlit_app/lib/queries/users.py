"""The org's users by name: what an owner filter shows for each owner id (the `users` mart's
`display_name`; an id the mart does not know is shown as it is)."""

from __future__ import annotations

import streamlit as st

from streamlit_app.lib import db
from streamlit_app.lib.queries.common import CACHE_TTL_S


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def user_names(path: str, version: str, org_id: str) -> dict[str, str]:
    """Each known user id of the org mapped to the name pages show for it."""
    df = db.fetch(
        path,
        "SELECT user_id, display_name FROM marts.users WHERE org_id = ? ORDER BY user_id",
        [org_id],
        org=org_id,
    )
    return dict(zip(df.get_column("user_id").to_list(), df.get_column("display_name").to_list(), strict=True))
