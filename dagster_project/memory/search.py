"""Full-text search over live memory atoms: BM25 (DuckDB's fts extension) blended with relevance.

The index is built into the snapshot at publish time (`marts.memory_search` + schema
`fts_marts_memory_search`), so it always matches the atoms readers see, and a redaction that rewrites
the snapshot rewrites the index too. Every search takes one org; filters narrow by entity, client,
type and time.

Ranking: `score = 0.7 × bm25 / best_bm25 + 0.3 × relevance / 100` — the text match dominates (scaled to
the best match of this query, so 1.0 is the best hit), and of two equally good matches the more
relevant memory (higher type score, fresher, trusted) comes first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

import duckdb

SEARCH_TABLE = "marts.memory_search"
TEXT_WEIGHT = 0.7
RELEVANCE_WEIGHT = 0.3
SNIPPET_CHARS = 160


def load_fts(con: duckdb.DuckDBPyConnection) -> None:
    """Load the fts extension from its PyPI wheel (works offline)."""
    from duckdb_extensions import import_extension

    import_extension("fts")
    con.execute("load fts")


def build_index(con: duckdb.DuckDBPyConnection) -> int:
    """(Re)build `marts.memory_search` and its BM25 index from `marts.memory_atoms`; returns the rows."""
    load_fts(con)
    con.execute(
        f"""create or replace table {SEARCH_TABLE} as
            select row_number() over (order by org_id, atom_id) as doc_id, org_id, atom_id, entity_type,
                   entity_id, client_id, atom_type, content, occurred_at, relevance
            from marts.memory_atoms"""
    )
    con.execute(
        f"pragma create_fts_index('{SEARCH_TABLE}', 'doc_id', 'content', stemmer='porter', "
        "stopwords='english', overwrite=1)"
    )
    return con.execute(f"select count(*) from {SEARCH_TABLE}").fetchone()[0]


@dataclass(frozen=True)
class Hit:
    atom_id: str
    entity_type: str
    entity_id: str
    client_id: str | None
    atom_type: str
    occurred_at: datetime
    text_score: float
    relevance: float
    score: float
    snippet: str


def search(
    con: duckdb.DuckDBPyConnection,
    org_id: str,
    query: str,
    *,
    entity_type: str | None = None,
    entity_id: str | None = None,
    client_id: str | None = None,
    atom_type: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 20,
) -> list[Hit]:
    """The org's best-matching live atoms for `query`, best first (see the module doc for the score)."""
    if not query.strip():
        return []
    rows = con.execute(
        f"""with matched as (
                select *, fts_marts_memory_search.match_bm25(doc_id, $query) as text_score
                from {SEARCH_TABLE}
                where org_id = $org
                  and ($entity_type is null or entity_type = $entity_type)
                  and ($entity_id is null or entity_id = $entity_id)
                  and ($client_id is null or client_id = $client_id)
                  and ($atom_type is null or atom_type = $atom_type)
                  and ($since is null or occurred_at >= $since)
                  and ($until is null or occurred_at <= $until)
            ),
            hits as (select * from matched where text_score is not null)
            select atom_id, entity_type, entity_id, client_id, atom_type, occurred_at, text_score, relevance,
                   {TEXT_WEIGHT} * text_score / max(text_score) over () + {RELEVANCE_WEIGHT} * relevance / 100
                       as score,
                   content
            from hits
            order by score desc, atom_id
            limit $limit""",
        {
            "query": query,
            "org": org_id,
            "entity_type": entity_type,
            "entity_id": entity_id,
            "client_id": client_id,
            "atom_type": atom_type,
            "since": since,
            "until": until,
            "limit": limit,
        },
    ).fetchall()
    return [Hit(*row[:9], snippet=snippet(row[9], query)) for row in rows]


def snippet(content: str, query: str, width: int = SNIPPET_CHARS) -> str:
    """A window of the content around the first query term it contains, with the terms in **bold**."""
    terms = [t for t in re.findall(r"\w+", query.lower()) if len(t) > 1]
    lower = content.lower()
    positions = [lower.find(t) for t in terms if lower.find(t) >= 0]
    start = max(0, min(positions) - width // 3) if positions else 0
    text = content[start : start + width]
    prefix = "…" if start > 0 else ""
    suffix = "…" if start + width < len(content) else ""
    for term in sorted(set(terms), key=len, reverse=True):
        text = re.sub(rf"(?i)\b({re.escape(term)}\w*)", r"**\1**", text)
    return prefix + text + suffix
