"""Full-text search over live memory atoms: BM25 (DuckDB's fts extension) blended with relevance.

The index is built into the snapshot at publish time (`marts.memory_search` + schema
`fts_marts_memory_search`), so it always matches the atoms readers see, and a redaction that rewrites
the snapshot rewrites the index too. Every search takes one org; filters narrow by entity, client,
type and time.

Ranking: `score = 0.7 × bm25 / best_bm25 + 0.3 × relevance / 100` — the text match dominates (scaled to
the best match of this query, so 1.0 is the best hit), and of two equally good matches the more
relevant memory (higher type score, fresher, trusted) comes first.

Speed: fts's own `match_bm25` macro scores every document of every org for each query (≈ 180 ms median,
330 ms p99 on a 1M-event snapshot). The index's tables are the same, but at publish they are also laid
out as `marts.memory_search_postings` — one row per (org, term, document) with the term frequency and
the document length, sorted by org and term — so a query reads only its org's postings for its terms
(DuckDB skips the other row groups by their min/max) and computes fts's BM25 formula (k1 = 1.2,
b = 0.75) over them.

Tenancy: the BM25 statistics (document count, average length, each term's document frequency) are the
org's own, never fts's index-wide `stats` and `dict.df`: those count every org's atoms, so an org's
scores would move with how many of another org's atoms contain a term. With per-org statistics an
org's scores are exactly those of an index holding only its atoms. The document frequency comes from
the org's postings of the query's terms (a read of the rows the query reads anyway); the count and
average length per org sit in `marts.memory_search_org_stats`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

import duckdb

SEARCH_TABLE = "marts.memory_search"
POSTINGS_TABLE = "marts.memory_search_postings"
ORG_STATS_TABLE = "marts.memory_search_org_stats"
FTS_SCHEMA = "fts_marts_memory_search"
BM25_K1 = 1.2
BM25_B = 0.75
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
    con.execute(
        f"""create or replace table {POSTINGS_TABLE} as
            select search.org_id, terms.termid, search.doc_id, count(*)::integer as tf,
                   any_value(docs.len)::integer as doc_len
            from {FTS_SCHEMA}.terms as terms
            join {FTS_SCHEMA}.docs as docs on docs.docid = terms.docid
            join {SEARCH_TABLE} as search on search.doc_id = docs.name
            group by search.org_id, terms.termid, search.doc_id
            order by search.org_id, terms.termid, search.doc_id"""
    )
    con.execute(
        f"""create or replace table {ORG_STATS_TABLE} as
            select search.org_id, count(*)::bigint as num_docs, avg(docs.len)::double as avgdl
            from {SEARCH_TABLE} as search
            join {FTS_SCHEMA}.docs as docs on docs.name = search.doc_id
            group by search.org_id
            order by search.org_id"""
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
        f"""with tokens as (
                select distinct stem(unnest({FTS_SCHEMA}.tokenize($query)), 'porter') as term
            ),
            org_postings as (
                select p.* from {POSTINGS_TABLE} as p
                join {FTS_SCHEMA}.dict as dict on dict.termid = p.termid
                join tokens using (term)
                where p.org_id = $org
            ),
            query_terms as (
                select df.termid, log((stats.num_docs - df.df + 0.5) / (df.df + 0.5) + 1) as idf,
                       stats.avgdl
                from (select termid, count(*) as df from org_postings group by termid) as df,
                     {ORG_STATS_TABLE} as stats
                where stats.org_id = $org
            ),
            scores as (
                select p.doc_id,
                       sum(q.idf * (p.tf * ({BM25_K1} + 1))
                           / (p.tf + {BM25_K1} * (1 - {BM25_B} + {BM25_B} * (p.doc_len / q.avgdl))))
                           as text_score
                from org_postings as p join query_terms as q using (termid)
                group by p.doc_id
            ),
            hits as (
                select s.doc_id, s.atom_id, s.entity_type, s.entity_id, s.client_id, s.atom_type,
                       s.occurred_at, s.relevance, scores.text_score
                from scores join {SEARCH_TABLE} as s using (doc_id)
                where s.org_id = $org
                  and ($entity_type is null or s.entity_type = $entity_type)
                  and ($entity_id is null or s.entity_id = $entity_id)
                  and ($client_id is null or s.client_id = $client_id)
                  and ($atom_type is null or s.atom_type = $atom_type)
                  and ($since is null or s.occurred_at >= $since)
                  and ($until is null or s.occurred_at <= $until)
            ),
            best as (
                select *,
                       {TEXT_WEIGHT} * text_score / max(text_score) over ()
                           + {RELEVANCE_WEIGHT} * relevance / 100 as score
                from hits
                order by score desc, atom_id
                limit $limit
            )
            -- The text only for the hits shown (late materialization: content is the widest column).
            select best.atom_id, best.entity_type, best.entity_id, best.client_id, best.atom_type,
                   best.occurred_at, best.text_score, best.relevance, best.score, s.content
            from best join {SEARCH_TABLE} as s using (doc_id)
            order by best.score desc, best.atom_id""",
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
