"""Memory search: BM25 over live atoms, one org at a time, filters, the blend with relevance, snippets."""

from __future__ import annotations

from datetime import UTC, datetime

import duckdb
import pytest

from dagster_project.memory.search import build_index, search, snippet

T = datetime(2026, 11, 1, tzinfo=UTC)
ATOMS = [
    # org, atom_id, entity_type, entity_id, client_id, atom_type, content, relevance
    (
        "acme",
        "a1",
        "candidate",
        "c1",
        "cl1",
        "preference",
        "Client prefers fixed pricing on every proposal",
        80.0,
    ),
    (
        "acme",
        "a2",
        "pursuit",
        "p1",
        "cl1",
        "risk",
        "Pricing pressure from a competitor; budget freeze risk",
        20.0,
    ),
    ("acme", "a3", "pursuit", "p2", "cl2", "decision", "Chose the phased delivery plan", 100.0),
    ("globex", "g1", "candidate", "c9", "cl9", "preference", "Globex secret pricing preference", 90.0),
]


@pytest.fixture
def con():
    con = duckdb.connect()
    con.execute("create schema marts")
    con.execute(
        "create table marts.memory_atoms (org_id varchar, atom_id varchar, entity_type varchar, entity_id varchar, "
        "client_id varchar, atom_type varchar, content varchar, occurred_at timestamptz, relevance double)"
    )
    con.executemany(
        "insert into marts.memory_atoms values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [(*a[:7], T, a[7]) for a in ATOMS],
    )
    assert build_index(con) == len(ATOMS)
    return con


def test_search_is_scoped_to_one_org(con):
    assert {h.atom_id for h in search(con, "acme", "pricing")} == {"a1", "a2"}
    assert [h.atom_id for h in search(con, "globex", "pricing")] == ["g1"]
    assert search(con, "nobody", "pricing") == []


def test_filters_by_entity_client_type_and_time(con):
    assert [h.atom_id for h in search(con, "acme", "pricing", atom_type="risk")] == ["a2"]
    assert [h.atom_id for h in search(con, "acme", "pricing", entity_type="candidate", entity_id="c1")] == [
        "a1"
    ]
    assert [h.atom_id for h in search(con, "acme", "delivery", client_id="cl2")] == ["a3"]
    assert search(con, "acme", "pricing", since=datetime(2026, 12, 1, tzinfo=UTC)) == []


def test_score_blends_text_and_relevance(con):
    hits = search(con, "acme", "pricing")
    for h in hits:
        best = max(x.text_score for x in hits)
        assert h.score == pytest.approx(0.7 * h.text_score / best + 0.3 * h.relevance / 100)
    assert hits == sorted(hits, key=lambda h: -h.score)


def test_stemming_and_snippets(con):
    (hit,) = search(con, "acme", "chose phased")
    assert hit.atom_id == "a3" and "**phased**" in hit.snippet
    long = "x " * 200 + "the pricing clause " + "y " * 200
    cut = snippet(long, "pricing")
    assert cut.startswith("…") and cut.endswith("…") and "**pricing**" in cut and len(cut) < 220


def test_an_empty_query_finds_nothing(con):
    assert search(con, "acme", "   ") == []


def _index(atoms: list[tuple]) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("create schema marts")
    con.execute(
        "create table marts.memory_atoms (org_id varchar, atom_id varchar, entity_type varchar, entity_id varchar, "
        "client_id varchar, atom_type varchar, content varchar, occurred_at timestamptz, relevance double)"
    )
    con.executemany(
        "insert into marts.memory_atoms values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [(*a[:7], T, a[7]) for a in atoms],
    )
    build_index(con)
    return con


def test_an_orgs_scores_do_not_reveal_how_many_of_another_orgs_atoms_hold_a_term():
    acme = [a for a in ATOMS if a[0] == "acme"]
    # Another org whose atoms use "pricing" a lot, and are long (it would move the average length too).
    globex = [
        ("globex", f"g{i}", "candidate", f"c{i}", None, "note", "pricing pricing " + "word " * i, 50.0)
        for i in range(40)
    ]
    alone, shared = _index(acme), _index(acme + globex)
    for query in ("pricing", "client pricing proposal", "phased delivery"):
        expected = [(h.atom_id, h.text_score, h.score) for h in search(alone, "acme", query)]
        got = [(h.atom_id, h.text_score, h.score) for h in search(shared, "acme", query)]
        assert [g[0] for g in got] == [e[0] for e in expected]
        for (_, text, score), (_, want_text, want_score) in zip(got, expected, strict=True):
            assert text == pytest.approx(want_text) and score == pytest.approx(want_score)
