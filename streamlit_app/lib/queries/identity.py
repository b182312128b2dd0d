"""Contacts and identity: people per client, a person's signals, pursuits and memory, conflicts, links."""

from __future__ import annotations

import polars as pl
import streamlit as st

from streamlit_app.lib import db
from streamlit_app.lib.queries.common import CACHE_TTL_S, user_name, user_name_join


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def contacts(path: str, version: str, org_id: str) -> pl.DataFrame:
    """The org's resolved people with their client's name, by client then name."""
    return db.fetch(
        path,
        """
        SELECT p.contact_id, p.name, p.email, p.phone, p.client_id, c.name AS client_name, p.records,
               len(p.signal_ids) AS signals, p.first_seen_at, p.last_seen_at
        FROM marts.contacts AS p
        LEFT JOIN marts.clients AS c ON c.org_id = p.org_id AND c.client_id = p.client_id
        WHERE p.org_id = ?
        ORDER BY p.client_id NULLS LAST, p.name NULLS LAST, p.contact_id
        """,
        [org_id],
        org=org_id,
    )


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def person_signals(path: str, version: str, org_id: str, contact_id: str) -> pl.DataFrame:
    """The person's signals with their state, owner (by name) and the candidate that links them."""
    return db.fetch(
        path,
        f"""
        SELECT s.signal_id, s.status, s.source_type, {user_name("s.owner")} AS owner, s.created_at,
               s.linked_candidate_id
        FROM marts.contacts AS p, unnest(p.signal_ids) AS u(signal_id)
        JOIN marts.signals AS s ON s.org_id = p.org_id AND s.signal_id = u.signal_id
        {user_name_join("s.owner")}
        WHERE p.org_id = ? AND p.contact_id = ?
        ORDER BY s.created_at, s.signal_id
        """,
        [org_id, org_id, contact_id],
        org=org_id,
    )


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def person_work(path: str, version: str, org_id: str, contact_id: str) -> pl.DataFrame:
    """The candidates that link the person's signals, and the pursuits they became."""
    return db.fetch(
        path,
        """
        SELECT DISTINCT c.candidate_id, c.title, c.status AS candidate_status, p.pursuit_id, p.stage,
               p.forecast_value_usd
        FROM marts.contacts AS person, unnest(person.signal_ids) AS u(signal_id)
        JOIN marts.candidates AS c ON c.org_id = person.org_id AND list_contains(c.signal_ids, u.signal_id)
        LEFT JOIN marts.pursuits AS p ON p.org_id = c.org_id AND p.pursuit_id = c.pursuit_id
        WHERE person.org_id = ? AND person.contact_id = ?
        ORDER BY c.candidate_id
        """,
        [org_id, contact_id],
        org=org_id,
    )


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def person_memory(path: str, version: str, org_id: str, contact_id: str) -> pl.DataFrame:
    """Live memory atoms of the person's signals and of the candidates and pursuits linked to them."""
    return db.fetch(
        path,
        """
        WITH sig AS (
            SELECT u.signal_id FROM marts.contacts AS p, unnest(p.signal_ids) AS u(signal_id)
            WHERE p.org_id = ? AND p.contact_id = ?
        ),
        ents AS (
            SELECT 'signal' AS entity_type, signal_id AS entity_id FROM sig
            UNION
            SELECT 'candidate', c.candidate_id FROM marts.candidates AS c JOIN sig
                ON list_contains(c.signal_ids, sig.signal_id) WHERE c.org_id = ?
            UNION
            SELECT 'pursuit', c.pursuit_id FROM marts.candidates AS c JOIN sig
                ON list_contains(c.signal_ids, sig.signal_id) WHERE c.org_id = ? AND c.pursuit_id IS NOT NULL
        )
        SELECT a.occurred_at, a.entity_type, a.entity_id, a.atom_type, a.content
        FROM marts.memory_atoms AS a JOIN ents USING (entity_type, entity_id)
        WHERE a.org_id = ?
        ORDER BY a.occurred_at DESC, a.atom_id
        LIMIT 200
        """,
        [org_id, contact_id, org_id, org_id, org_id],
        org=org_id,
    )


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def person_links(path: str, version: str, org_id: str, contact_id: str) -> pl.DataFrame:
    """The source records that are this person, and why."""
    return db.fetch(
        path,
        """
        SELECT record_type, record_id, source_system, source_id, match_rule, match_probability
        FROM marts.identity_links
        WHERE org_id = ? AND entity_type = 'contact' AND canonical_id = ?
        ORDER BY record_type, record_id
        """,
        [org_id, contact_id],
        org=org_id,
    )


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def conflicts(path: str, version: str, org_id: str) -> pl.DataFrame:
    """Pairs waiting for a decision, with the model's probability and explanation when it scored them."""
    return db.fetch(
        path,
        """
        SELECT k.entity_type, k.kind, k.left_id, k.right_id, k.detail, p.match_probability, p.explanation
        FROM marts.identity_conflicts AS k
        LEFT JOIN marts.identity_pairs AS p
               ON p.org_id = k.org_id AND p.left_id = k.left_id AND p.right_id = k.right_id
        WHERE k.org_id = ?
        ORDER BY p.match_probability DESC NULLS LAST, k.kind, k.left_id, k.right_id
        """,
        [org_id],
        org=org_id,
    )


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def merges(path: str, version: str, org_id: str) -> pl.DataFrame:
    """Every record that joined a person or company, and by which rule (decisions and matches)."""
    return db.fetch(
        path,
        """
        SELECT entity_type, canonical_id, record_type, record_id, source_system, source_id, match_rule,
               match_probability
        FROM marts.identity_links
        WHERE org_id = ? AND match_rule NOT IN ('unique', 'canonical')
        ORDER BY entity_type, canonical_id, record_type, record_id
        """,
        [org_id],
        org=org_id,
    )
