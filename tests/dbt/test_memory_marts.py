"""The memory marts (dbt/models/marts/memory) on events captured by dagster_project.memory.capture.

Org `acme` as of T = 2026-03-10 12:00Z, config: `memory.pinned_types` ["risk"], `memory.half_life_days.note` 10.
Candidate c1 (client k1) has a decision corrected once (dec-1, version 2), a pinned risk at trust 0.5 (45, no decay),
a 350-character preference, a note whose explicit expiry passed before T, a redacted note (before T) and a note
redacted after T (erased at every as-of; its audit row is not yet in the trail at T). Client k1 has its own note;
its creation atom (status, 30-day retention) has expired by T. Org `globex` reuses an atom id of acme.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest
from core_fixture import create_core_tables, fold_into_core, fold_memory_into_core, rows
from test_dbt_project import run_dbt

from dagster_project.config.registry import ConfigRegistry
from dagster_project.lifecycle.fold import fold
from dagster_project.memory.atoms import content_hash
from dagster_project.memory.capture import capture_atoms
from dagster_project.memory.relevance import score_atoms

AS_OF = "2026-03-10T12:00:00+00:00"
LATER_AS_OF = "2026-03-10T18:00:00+00:00"  # nothing shown changes in 6 hours: the etags must not move
# `memory_health` (a child of `memory_atoms`) also reads the outbox mart: its ancestors are built too.
# The memory marts and everything they are built from; their own children (scores, follow-ups) have
# parents of their own, tested in their own files.
SELECT = ["--select", "+memory_cards +memory_atoms +memory_audit +memory_health"]

LONG = "Prefers quarterly billing. " * 13  # 351 characters, cut to 300 on the card
_counter = iter(range(1, 1000))


def _ev(
    org: str, at: str, event_name: str, entity_type: str, entity_id: str, **payload: Any
) -> dict[str, Any]:
    return {
        "org_id": org,
        "event_id": f"mem-{next(_counter):03d}",
        "occurred_at": at,
        "event_name": event_name,
        "entity_type": entity_type,
        "entity_id": entity_id,
        "actor": "rep@example.com",
        "payload": payload,
    }


def _rec(org: str, at: str, entity_type: str, entity_id: str, atom_id: str, atom_type: str, content: str,
         **extra: Any) -> dict[str, Any]:  # fmt: skip
    return _ev(org, at, "memory.recorded", entity_type, entity_id, atom_id=atom_id, atom_type=atom_type,
               content=content, **extra)  # fmt: skip


ACME = [
    _ev("acme", "2026-01-01T00:00:00+00:00", "config.changed", "org", "acme", key="memory.pinned_types", value=["risk"]),
    _ev("acme", "2026-01-01T00:00:00+00:00", "config.changed", "org", "acme", key="memory.half_life_days.note", value=10),
    _ev("acme", "2026-02-01T00:00:00+00:00", "client.updated", "client", "k1", name="Acme Corp"),
    _ev("acme", "2026-03-01T00:00:00+00:00", "candidate.created", "candidate", "c1", title="Printers", client_id="k1"),
    _rec("acme", "2026-02-01T00:00:00+00:00", "candidate", "c1", "risk-1", "risk", "Budget freeze possible",
         source={"system": "crm", "trust_weight": 0.5}),
    _rec("acme", "2026-03-02T00:00:00+00:00", "candidate", "c1", "dec-1", "decision", "Go with vendor A"),
    _ev("acme", "2026-03-03T00:00:00+00:00", "memory.corrected", "candidate", "c1", atom_id="dec-1",
        content="Go with vendor B", reason="typo"),
    _rec("acme", "2026-03-04T00:00:00+00:00", "candidate", "c1", "note-secret", "note", "Private phone 555-0100"),
    _ev("acme", "2026-03-06T00:00:00+00:00", "memory.redacted", "candidate", "c1", atom_id="note-secret", reason="pii"),
    _rec("acme", "2026-03-05T00:00:00+00:00", "candidate", "c1", "pref-1", "preference", LONG),
    _rec("acme", "2026-03-07T00:00:00+00:00", "candidate", "c1", "note-late", "note", "Home address on file"),
    _ev("acme", "2026-03-15T00:00:00+00:00", "memory.redacted", "candidate", "c1", atom_id="note-late", reason="pii"),
    _rec("acme", "2026-03-08T00:00:00+00:00", "candidate", "c1", "note-exp", "note", "Visiting this week",
         expires_at="2026-03-09T00:00:00+00:00"),
    _rec("acme", "2026-03-08T00:00:00+00:00", "client", "k1", "note-k1", "note", "Prefers email"),
]  # fmt: skip
GLOBEX = [_rec("globex", "2026-03-09T12:00:00+00:00", "pursuit", "p9", "dec-1", "decision", "Walk away")]
EVENTS = [*ACME, *GLOBEX]


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("memory")
    path = root / "warehouse.duckdb"
    with duckdb.connect(str(path)) as con:
        create_core_tables(con)
        fold_into_core(con, EVENTS, as_of=AS_OF)
        fold_memory_into_core(con, EVENTS, as_of=AS_OF)
    later = root / "warehouse_later.duckdb"
    shutil.copy(path, later)
    run_dbt(["build", *SELECT], warehouse=path, target=root / "target", as_of=AS_OF)
    run_dbt(["run", *SELECT], warehouse=later, target=root / "target_later", as_of=LATER_AS_OF)
    return {"now": path, "later": later}


def _python_reference(org: str, as_of: str) -> dict[str, dict[str, Any]]:
    """The live atoms with score and relevance as dagster_project.memory computes them."""
    events = [
        {**e, "occurred_at": _at(e["occurred_at"])} for e in EVENTS if e["org_id"] == org
    ]  # fmt: skip
    registry = ConfigRegistry.from_events(events)
    cut = _at(as_of)
    memory = capture_atoms(events, fold(events, as_of=cut), registry, cut)
    return {a["atom_id"]: a for a in score_atoms(memory.live_atoms, registry, cut)}


def test_memory_atoms_agree_with_python_exactly(built: dict[str, Path]) -> None:
    for path, as_of in ((built["now"], AS_OF), (built["later"], LATER_AS_OF)):
        for org in ("acme", "globex"):
            got = {
                r["atom_id"]: r
                for r in rows(path, f"select * from marts.memory_atoms where org_id = '{org}'")
            }
            want = _python_reference(org, as_of)
            assert set(got) == set(want), (org, as_of)
            for atom_id, row in got.items():
                ref = want[atom_id]
                for column in ("entity_type", "entity_id", "client_id", "atom_type", "content", "source",
                               "trust_weight", "tags", "occurred_at", "expires_at", "version", "score",
                               "relevance", "base_score", "age_days", "half_life_days", "pinned"):  # fmt: skip
                    assert row[column] == ref[column], (org, atom_id, column, row[column], ref[column])
                assert row["decay_factor"] == ref["decay"], (org, atom_id)
                assert row["built_at"] == _at(as_of)


def test_memory_atoms_hand_scenario(built: dict[str, Path]) -> None:
    got = {
        r["atom_id"]: r for r in rows(built["now"], "select * from marts.memory_atoms where org_id = 'acme'")
    }
    # expired (client creation: status, 30 days; note-exp: explicit expiry) and redacted atoms are not live
    created = f"{_eid('candidate.created')}:created"
    assert sorted(got) == ["dec-1", created, "note-k1", "pref-1", "risk-1"]
    dec = got["dec-1"]
    assert (dec["content"], dec["version"], dec["client_id"]) == ("Go with vendor B", 2, "k1")
    assert dec["age_days"] == 8.5 and dec["half_life_days"] == 180.0
    assert dec["relevance"] == pytest.approx(100 * 0.5 ** (8.5 / 180))
    risk = got["risk-1"]  # pinned, trust 0.5: 90 × 0.5, no decay after 37.5 days
    assert (risk["score"], risk["relevance"], risk["decay_factor"], risk["pinned"]) == (45.0, 45.0, 1.0, True)
    note = got["note-k1"]  # half-life 10 days (override), 2.5 days old
    assert (note["entity_type"], note["client_id"], note["half_life_days"]) == ("client", "k1", 10.0)
    assert note["relevance"] == pytest.approx(60 * 0.5**0.25)
    assert got["pref-1"]["expires_at"] == _at("2027-03-05T00:00:00+00:00")


def _eid(event_name: str) -> str:
    return next(e["event_id"] for e in ACME if e["event_name"] == event_name)


def _items(path: Path, org: str, entity_type: str, entity_id: str) -> dict[str, Any]:
    [card] = rows(
        path,
        f"select * from marts.memory_cards where org_id = '{org}' and entity_type = '{entity_type}' "
        f"and entity_id = '{entity_id}'",
    )
    return card


def test_memory_cards(built: dict[str, Path]) -> None:
    cards = rows(built["now"], "select org_id, entity_type, entity_id, atoms_total, version from marts.memory_cards "
                               "order by 1, 2, 3")  # fmt: skip
    assert [tuple(c.values()) for c in cards] == [
        ("acme", "candidate", "c1", 4, 5),  # dec-1 corrected once: version 2
        ("acme", "client", "k1", 5, 6),  # the roll-up: c1's atoms plus the client's own note
        ("globex", "pursuit", "p9", 1, 1),  # no client: no roll-up
    ]
    c1 = _items(built["now"], "acme", "candidate", "c1")
    arrays = {
        k: json.loads(c1[k]) for k in ("key_facts", "recent_activity", "decisions", "risks", "top_atoms")
    }
    created = f"{_eid('candidate.created')}:created"
    assert [i["atom_id"] for i in arrays["top_atoms"]] == ["dec-1", "pref-1", "risk-1", created]
    assert [i["atom_id"] for i in arrays["key_facts"]] == ["dec-1", "pref-1"]
    assert [i["atom_id"] for i in arrays["recent_activity"]] == ["pref-1", "dec-1", created]
    assert [i["atom_id"] for i in arrays["decisions"]] == ["dec-1"]
    assert [i["atom_id"] for i in arrays["risks"]] == ["risk-1"]
    assert arrays["decisions"][0] == {
        "atom_id": "dec-1",
        "atom_type": "decision",
        "content": "Go with vendor B",
        "occurred_at": "2026-03-02T00:00:00.000000Z",
    }
    assert list(arrays["key_facts"][1]) == ["atom_id", "atom_type", "content", "occurred_at"]
    assert arrays["key_facts"][1]["content"] == LONG[:300] != LONG
    text = "".join(c1[k] for k in ("key_facts", "recent_activity", "decisions", "risks", "top_atoms"))
    assert c1["etag"] == '"' + hashlib.md5(text.encode()).hexdigest() + '"'
    assert "Go with vendor A" not in text and "555-0100" not in text and "Home address" not in text
    k1 = _items(built["now"], "acme", "client", "k1")
    assert [i["atom_id"] for i in json.loads(k1["recent_activity"])] == ["note-k1", "pref-1", "dec-1"]
    assert k1["etag"] != c1["etag"]


def test_memory_card_etags_stable_when_only_t_moves(built: dict[str, Path]) -> None:
    sql = "select org_id, entity_type, entity_id, etag, version, built_at from marts.memory_cards order by 1, 2, 3"
    now, later = rows(built["now"], sql), rows(built["later"], sql)
    assert [(r["entity_id"], r["etag"], r["version"]) for r in now] == [
        (r["entity_id"], r["etag"], r["version"]) for r in later
    ]
    assert {r["built_at"] for r in later} == {_at(LATER_AS_OF)}
    relevance = "select relevance from marts.memory_atoms where atom_id = 'pref-1'"
    assert rows(built["now"], relevance) != rows(built["later"], relevance)  # relevance moved, etag did not


def test_memory_audit(built: dict[str, Path]) -> None:
    got = rows(built["now"], "select * from marts.memory_audit order by org_id, occurred_at")
    assert [(r["audit_id"], r["action"], r["atom_id"], r["version"]) for r in got] == [
        (_eid("memory.corrected"), "correct", "dec-1", 2),
        (
            next(
                e["event_id"]
                for e in ACME
                if e["payload"].get("atom_id") == "note-secret" and e["event_name"] == "memory.redacted"
            ),
            "redact",
            "note-secret",
            None,
        ),
    ]  # fmt: skip  -- the redaction of note-late (after T) is not in the trail at T
    correct, redact = got
    assert (correct["old_content_hash"], correct["new_content_hash"]) == (
        content_hash("Go with vendor A"),
        content_hash("Go with vendor B"),
    )
    assert (correct["actor"], correct["reason"], correct["entity_type"], correct["entity_id"]) == (
        "rep@example.com",
        "typo",
        "candidate",
        "c1",
    )
    assert redact["content_hash"] == content_hash("Private phone 555-0100")
    assert redact["reason"] == "pii" and redact["occurred_at"] == _at("2026-03-06T00:00:00+00:00")
    assert {r["built_at"] for r in got} == {_at(AS_OF)}
    columns = [r["column_name"] for r in rows(built["now"], "select column_name from information_schema.columns "
                                                          "where table_name = 'memory_audit'")]  # fmt: skip
    assert "content" not in columns
