"""Memory: cards, timelines, search and the atom look-ups behind redaction and correction requests."""

from __future__ import annotations

import json
from typing import Any

import polars as pl
import streamlit as st

from streamlit_app.lib import db, governance
from streamlit_app.lib.queries.common import CACHE_TTL_S, ITEM_TITLE, item_title_joins

# Entity types in picker order (a client card is the client's roll-up: its own atoms and those of
# every candidate, pursuit and signal attached to it).
MEMORY_ENTITY_TYPES: tuple[str, ...] = ("client", "candidate", "pursuit", "signal")
# The JSON arrays of a card, in display order; each item is {atom_id, atom_type, content, occurred_at}.
CARD_SECTIONS: tuple[str, ...] = ("key_facts", "recent_activity", "decisions", "risks", "top_atoms")
MEMORY_TIMELINE_ROWS = 200
SEARCH_HITS = 20
# Hits fetched before identical copies are folded into one (`views.memory.dedupe_hits`), so a note copied
# onto many entities still leaves room for other matches.
SEARCH_FETCH = SEARCH_HITS * 10
_HIT_SCHEMA = {
    "atom_id": pl.String,
    "entity_type": pl.String,
    "entity_id": pl.String,
    "client_id": pl.String,
    "atom_type": pl.String,
    "occurred_at": pl.Datetime("us", "UTC"),
    "score": pl.Float64,
    "relevance": pl.Float64,
    "snippet": pl.String,
}


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def memory_entities(path: str, version: str, org_id: str) -> pl.DataFrame:
    """The org's memory cards: entity type and id, a label (the name the dashboards give the entity: a
    client's name, a candidate's or a pursuit's title, a signal by its source; null when none), live atoms.

    Ordered by entity type (client, candidate, pursuit, signal), then id.
    """
    return db.fetch(path, MEMORY_ENTITIES_SQL, memory_entities_params(org_id), org=org_id)


def memory_entities_params(org_id: str) -> list[Any]:
    return [*[org_id] * 6, list(MEMORY_ENTITY_TYPES)]


# Every join key is one expression of each side (see item_title_joins): with the entity-type test beside
# the key in the ON clause DuckDB plans a nested-loop join (every card against every candidate), which on
# a large org made the Memory page's first load take seconds; this form is a hash join with the same rows.
MEMORY_ENTITIES_SQL = f"""
    SELECT m.entity_type, m.entity_id, coalesce({ITEM_TITLE}, own.name) AS label, m.atoms_total
    FROM marts.memory_cards AS m
    {item_title_joins("m", "entity_type", "entity_id")}
    LEFT JOIN marts.clients AS own
           ON own.org_id = ? AND own.client_id = CASE WHEN m.entity_type = 'client' THEN m.entity_id END
    WHERE m.org_id = ?
    ORDER BY coalesce(list_position(?::VARCHAR[], m.entity_type), 99), m.entity_type, m.entity_id
"""


def _json_items(value: Any) -> list[dict[str, Any]]:
    if value is None:
        return []
    items = json.loads(value) if isinstance(value, str) else value
    return [item for item in items or [] if isinstance(item, dict)]


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def memory_card(
    path: str, version: str, org_id: str, entity_type: str, entity_id: str
) -> dict[str, Any] | None:
    """One card as published, its JSON sections parsed into lists of dicts; None when there is no card."""
    df = db.fetch(
        path,
        """
        SELECT key_facts, recent_activity, decisions, risks, top_atoms, atoms_total, version, etag, built_at
        FROM marts.memory_cards
        WHERE org_id = ? AND entity_type = ? AND entity_id = ?
        LIMIT 1
        """,
        [org_id, entity_type, entity_id],
        org=org_id,
    )
    if df.is_empty():
        return None
    row = df.row(0, named=True)
    return {k: _json_items(v) if k in CARD_SECTIONS else v for k, v in row.items()}


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def memory_timeline(
    path: str, version: str, org_id: str, entity_type: str, entity_id: str, limit: int = MEMORY_TIMELINE_ROWS
) -> pl.DataFrame:
    """The entity's live atoms, newest first (at most `limit`); for a client also every atom rolled up to it.

    With the name of each atom's own entity (`entity_name`: its title, a client's name; null when none).
    """
    return db.fetch(
        path,
        f"""
        WITH a AS (
            SELECT occurred_at, atom_type, content, score, relevance, source, entity_type, entity_id,
                   atom_id, version
            FROM marts.memory_atoms
            WHERE org_id = ?
              AND ((entity_type = ? AND entity_id = ?) OR (? = 'client' AND client_id = ?))
            ORDER BY occurred_at DESC, atom_id
            LIMIT ?
        )
        SELECT a.*, coalesce({ITEM_TITLE}, own.name) AS entity_name
        FROM a
        {item_title_joins("a", "entity_type", "entity_id")}
        -- A key DuckDB can hash-join on (see item_title_joins): not a test of the atom's side alone.
        LEFT JOIN marts.clients AS own
               ON own.org_id = ? AND own.client_id = CASE WHEN a.entity_type = 'client' THEN a.entity_id END
        ORDER BY a.occurred_at DESC, a.atom_id
        """,
        [org_id, entity_type, entity_id, entity_type, entity_id, limit, *[org_id] * 5],
        org=org_id,
    )


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def memory_same_text(
    path: str, version: str, org_id: str, entity_type: str, entity_id: str, text: str
) -> pl.DataFrame:
    """The entity's live atoms (a client's: with every atom rolled up to it) that hold `text`, newest first.

    "Hold" ignores case and runs of whitespace, so a note copied into another atom with other line breaks
    still counts. Not limited like the timeline: a redaction must be able to reach every copy.
    """
    atoms = db.fetch(
        path,
        """
        SELECT entity_type, entity_id, atom_id, atom_type, content, version, occurred_at
        FROM marts.memory_atoms
        WHERE org_id = ?
          AND ((entity_type = ? AND entity_id = ?) OR (? = 'client' AND client_id = ?))
        ORDER BY occurred_at DESC, atom_id
        """,
        [org_id, entity_type, entity_id, entity_type, entity_id],
        org=org_id,
    )
    needle = governance.normalised_text(text)
    if not needle or atoms.is_empty():
        return atoms.clear()
    return atoms.filter(
        pl.col("content").map_elements(
            lambda c: needle in governance.normalised_text(c), return_dtype=pl.Boolean
        )
    )


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def memory_atom_states(path: str, version: str, org_id: str, atom_ids: tuple[str, ...]) -> dict[str, dict]:
    """Version and content of those of the org's atoms that are live in this snapshot, by atom id.

    An id missing from the answer is not a live atom (redacted, expired or never captured).
    """
    df = db.fetch(
        path,
        """
        SELECT atom_id, version, content
        FROM marts.memory_atoms
        WHERE org_id = ? AND list_contains(?::VARCHAR[], atom_id)
        """,
        [org_id, list(atom_ids)],
        org=org_id,
    )
    return {
        row["atom_id"]: {"version": row["version"], "content": row["content"]}
        for row in df.iter_rows(named=True)
    }


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def memory_search(
    path: str,
    version: str,
    org_id: str,
    query: str,
    entity_type: str | None = None,
    entity_id: str | None = None,
    client_id: str | None = None,
    limit: int = SEARCH_HITS,
) -> pl.DataFrame:
    """The org's best-matching live atoms for `query`, best first, with a markdown snippet (terms in bold).

    Runs `dagster_project.memory.search.search` over the snapshot's BM25 index (`marts.memory_search`,
    built at publish); the query text travels as a parameter. Raises `db.SnapshotIncompatible` when the
    snapshot has no index.
    """
    from dagster_project.memory import search as memory

    def run(con: Any) -> list[Any]:
        memory.load_fts(con)
        return memory.search(
            con,
            org_id,
            query,
            entity_type=entity_type,
            entity_id=entity_id,
            client_id=client_id,
            limit=limit,
        )

    hits = db.run(path, run, org=org_id)
    rows = [
        {
            "atom_id": h.atom_id,
            "entity_type": h.entity_type,
            "entity_id": h.entity_id,
            "client_id": h.client_id,
            "atom_type": h.atom_type,
            "occurred_at": h.occurred_at,
            "score": float(h.score),
            "relevance": float(h.relevance),
            "snippet": h.snippet,
        }
        for h in hits
    ]
    return pl.DataFrame(rows, schema=_HIT_SCHEMA)


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def client_names(path: str, version: str, org_id: str) -> dict[str, str]:
    """The org's client names by client id (a client without a name is left out)."""
    df = db.fetch(
        path,
        "SELECT client_id, name FROM marts.clients WHERE org_id = ? AND name IS NOT NULL ORDER BY client_id",
        [org_id],
        org=org_id,
    )
    return dict(df.iter_rows())
