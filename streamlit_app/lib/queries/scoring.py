"""Win/loss: how the win scoring did on held-out pursuits, and the patterns that go with winning."""

from __future__ import annotations

import polars as pl
import streamlit as st

from streamlit_app.lib import db
from streamlit_app.lib.queries.common import CACHE_TTL_S


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def score_calibration(path: str, version: str, org_id: str) -> pl.DataFrame:
    """The org's scorer (model or prior) and its Brier score against the base rate; one row or none."""
    return db.fetch(
        path,
        """
        SELECT model_version, scorer, brier_model, brier_base_rate, base_rate, n_train, n_holdout, n_closed
        FROM marts.score_calibration
        WHERE org_id = ?
        ORDER BY model_version
        """,
        [org_id],
        org=org_id,
    )


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def score_reliability(path: str, version: str, org_id: str) -> pl.DataFrame:
    """Predicted against observed win rate per bin of the held-out scores."""
    return db.fetch(
        path,
        """
        SELECT bin, p_low, p_high, scores, mean_predicted, observed_win_rate
        FROM marts.score_reliability
        WHERE org_id = ?
        ORDER BY bin
        """,
        [org_id],
        org=org_id,
    )


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def win_patterns(path: str, version: str, org_id: str) -> pl.DataFrame:
    """The org's published win patterns, the strongest (either way) first."""
    return db.fetch(
        path,
        """
        SELECT pattern, lift, lift_ci_low, lift_ci_high, win_rate_with, win_rate_without,
               support_with, support_without
        FROM marts.win_patterns
        WHERE org_id = ?
        ORDER BY abs(ln(lift)) DESC, pattern
        """,
        [org_id],
        org=org_id,
    )
