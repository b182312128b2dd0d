"""The read API: cards with ETags, search, the Today panel, health, org scoping and snapshot swaps.

The client is an admin's (every org); who may read what is tests/api/test_access_guard.py's subject.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import pytest
from fastapi.testclient import TestClient

from dagster_project.api import create_app
from dagster_project.api.app import etag_matches
from dagster_project.memory.search import build_index
from tests.api.access_helpers import CLOCK, bearer, token_for
from tests.snapshot_schema import create_tables, insert_rows

BUILT_AT = datetime(2026, 11, 1, tzinfo=UTC)
PUBLISHED_AT = datetime(2026, 11, 1, 0, 2, tzinfo=UTC)
A, B = "acme", "globex"

# fmt: off
ATOMS = [
    # org, atom_id, entity_type, entity_id, client_id, atom_type, content, days ago, relevance
    (A, "a1", "candidate", "c1", "cl1", "preference", "Client prefers fixed pricing on every proposal", 2, 80.0),
    (A, "a2", "pursuit", "p1", "cl1", "risk", "Pricing pressure from a competitor; budget freeze risk", 5, 60.0),
    (A, "a3", "pursuit", "p2", "cl2", "decision", "Chose the phased delivery plan", 1, 100.0),
    (A, "a4", "signal", "s1", None, "note", "Called about pricing tiers for next year", 40, 10.0),
    (B, "g1", "candidate", "c1", "cl1", "preference", "Globex secret pricing preference", 2, 90.0),
    (B, "g2", "pursuit", "p1", "cl1", "risk", "Globex pricing risk on the renewal", 3, 70.0),
]
# fmt: on


def _item(atom) -> dict:
    org, atom_id, _et, _eid, _cl, atom_type, content, days, _rel = atom
    occurred = (BUILT_AT - timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return {"atom_id": atom_id, "atom_type": atom_type, "content": content, "occurred_at": occurred}


def _card(org, entity_type, entity_id, atoms, etag):
    items = [_item(a) for a in atoms]
    facts = [i for i in items if i["atom_type"] in ("preference", "decision")]
    return (
        org,
        entity_type,
        entity_id,
        json.dumps(facts),
        json.dumps(items[:3]),
        json.dumps([i for i in items if i["atom_type"] == "decision"]),
        json.dumps([i for i in items if i["atom_type"] == "risk"]),
        json.dumps(items),
        len(items),
        len(items),
        f'"{etag}"',
        BUILT_AT,
    )


def _cards(acme_c1_etag: str) -> list[tuple]:
    by_id = {a[1]: a for a in ATOMS}
    return [
        _card(A, "candidate", "c1", [by_id["a1"]], acme_c1_etag),
        _card(A, "pursuit", "p1", [by_id["a2"]], "etag-acme-p1"),
        _card(A, "client", "cl1", [by_id["a1"], by_id["a2"]], "etag-acme-cl1"),
        _card(B, "candidate", "c1", [by_id["g1"]], "etag-globex-c1"),
        _card(B, "pursuit", "p1", [by_id["g2"]], "etag-globex-p1"),
    ]


def _panel_row(org, rank, item_id, owner, tier, label):
    item_type = "pursuit" if item_id.startswith("p") else "candidate"
    return (
        org, item_type, item_id, label, "qual" if item_type == "pursuit" else "new", owner,
        date(2026, 11, 10) if item_type == "pursuit" else None, BUILT_AT - timedelta(hours=rank),
        float(rank), ["tag"], "med", 1000.0 * rank if item_type == "pursuit" else None, None, "green",
        10.0, 5.0, 3.0, 0.0, -1.0, 100.0 - rank, tier, rank, f"why {item_id}", BUILT_AT,
    )  # fmt: skip


PANEL = [
    _panel_row(A, 1, "p-100", "alice", "critical", "Acme big deal"),
    _panel_row(A, 2, "c-200", "bob", "high", "Acme candidate"),
    _panel_row(A, 3, "p-300", "alice", "high", "Acme second deal"),
    _panel_row(A, 4, "c-400", "alice", "medium", "Acme small"),
    _panel_row(A, 5, "c-500", None, "low", "Acme unowned"),
    _panel_row(B, 1, "p-100", "alice", "critical", "GLOBEX-ONLY deal"),
    _panel_row(B, 2, "c-900", "zed", "low", "GLOBEX-ONLY candidate"),
]

# Served tables the API reads; each is created as the pipeline serves it (tests/snapshot_schema.py).
TABLES = ("snapshot_info", "memory_atoms", "memory_cards", "today_panel", "users")
# Alice has a name; zed, who owns a Globex item, has none (his rows keep only his id).
USERS = [(A, "alice", "Alice Moreau", "Alice Moreau"), (B, "alice", "Alice Moreau", "Alice Moreau")]
ATOM_COLUMNS = (
    "org_id", "atom_id", "entity_type", "entity_id", "client_id", "atom_type", "content", "occurred_at",
    "expires_at", "age_days", "score", "base_score", "relevance",
)  # fmt: skip
# What every atom shares: a plain note, trusted, first version, not decayed enough to matter.
ATOM_FILL = {
    "source": "note", "trust_weight": 1.0, "version": 1, "half_life_days": 180.0, "decay_factor": 1.0,
    "pinned": False, "built_at": BUILT_AT,
}  # fmt: skip
CARD_COLUMNS = (
    "org_id", "entity_type", "entity_id", "key_facts", "recent_activity", "decisions", "risks", "top_atoms",
    "atoms_total", "version", "etag", "built_at",
)  # fmt: skip
PANEL_COLUMNS = (
    "org_id", "item_type", "item_id", "label", "state", "owner", "due_date", "last_touch_at",
    "hours_since_touch", "tags", "value_band", "forecast_value_usd", "sla_metric", "badge", "urgency_points",
    "value_points", "stage_points", "compliance_points", "workload_points", "priority_score", "priority_tier",
    "rank", "why", "built_at",
)  # fmt: skip


def _atom_row(atom) -> tuple:
    *head, days, relevance = atom
    occurred = BUILT_AT - timedelta(days=days)
    return (*head, occurred, occurred + timedelta(days=365), float(days), relevance, relevance, relevance)


def publish(
    home: Path,
    *,
    version: str = "v1",
    acme_c1_etag: str = "etag-acme-c1-v1",
    atoms: list[tuple] | None = None,
    cards: list[tuple] | None = None,
    panel: list[tuple] | None = None,
) -> None:
    """Write a snapshot next to the live one and swap it in, as the pipeline does (the rows of this
    module unless others are given)."""
    home.mkdir(parents=True, exist_ok=True)
    tmp = home / f".serving-{version}.duckdb"
    tmp.unlink(missing_ok=True)
    con = duckdb.connect(str(tmp))
    try:
        create_tables(con, TABLES)
        info = ("snapshot_version", "built_at", "published_at", "events")
        insert_rows(con, "snapshot_info", info, [(version, BUILT_AT, PUBLISHED_AT, 42)])
        atom_rows = [_atom_row(a) for a in (ATOMS if atoms is None else atoms)]
        insert_rows(con, "memory_atoms", ATOM_COLUMNS, atom_rows, fill=ATOM_FILL)
        insert_rows(con, "memory_cards", CARD_COLUMNS, _cards(acme_c1_etag) if cards is None else cards)
        insert_rows(
            con,
            "today_panel",
            PANEL_COLUMNS,
            PANEL if panel is None else panel,
            fill={"follow_up_due": False},
        )
        insert_rows(
            con,
            "users",
            ("org_id", "user_id", "name", "display_name"),
            USERS,
            fill={"active": True, "first_seen_at": BUILT_AT, "last_seen_at": BUILT_AT, "built_at": BUILT_AT},
        )
        build_index(con)
    finally:
        con.close()
    os.replace(tmp, home / "serving.duckdb")


@pytest.fixture
def home(tmp_path: Path) -> Path:
    publish(tmp_path)
    return tmp_path


def admin_client(home: Path, **kwargs) -> TestClient:
    """A client of the API on `home` sending an admin's token."""
    token = token_for(home, "admin@example.com", "admin")
    return TestClient(create_app(home, clock=CLOCK, **kwargs), headers=bearer(token))


@pytest.fixture
def client(home: Path):
    with admin_client(home) as c:
        yield c


# --- cards ---------------------------------------------------------------------------------------------


def test_card_json_and_etag(client):
    r = client.get(f"/orgs/{A}/cards/client/cl1")
    assert r.status_code == 200
    assert r.headers["etag"] == '"etag-acme-cl1"'
    assert r.headers["cache-control"] == "no-cache"
    assert r.headers["x-snapshot-version"] == "v1"
    card = r.json()
    assert card["org_id"] == A and card["entity_type"] == "client" and card["entity_id"] == "cl1"
    assert isinstance(card["top_atoms"], list)  # JSON arrays, not strings
    assert [i["atom_id"] for i in card["top_atoms"]] == ["a1", "a2"]
    assert card["risks"][0]["content"].startswith("Pricing pressure")
    assert card["decisions"] == []
    assert card["atoms_total"] == 2 and card["version"] == 2
    assert card["etag"] == '"etag-acme-cl1"'
    assert card["built_at"] == "2026-11-01T00:00:00Z"


def test_if_none_match_gives_304_without_body(client):
    url = f"/orgs/{A}/cards/candidate/c1"
    # Cold (the etag comes from the database), then warm (this process remembers the served etag).
    assert client.get(url, headers={"If-None-Match": '"etag-acme-c1-v1"'}).status_code == 304
    etag = client.get(url).headers["etag"]
    assert client.app.state.store.fresh_version().etags[(A, "candidate", "c1")] == etag
    for header in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        r = client.get(url, headers={"If-None-Match": header})
        assert r.status_code == 304, header
        assert r.content == b""
        assert r.headers["etag"] == etag
        assert r.headers["cache-control"] == "no-cache"


def test_different_etag_gives_200(client):
    url = f"/orgs/{A}/cards/candidate/c1"
    r = client.get(url, headers={"If-None-Match": '"stale", W/"older"'})
    assert r.status_code == 200
    assert r.json()["key_facts"][0]["atom_id"] == "a1"
    assert r.headers["etag"] == '"etag-acme-c1-v1"'


def test_etag_matching_rules():
    assert etag_matches(['"x"'], '"x"')
    assert etag_matches(['W/"x"'], '"x"')
    assert etag_matches(['"a", W/"x"'], '"x"')
    assert etag_matches(['"a"', '"x"'], '"x"')
    assert etag_matches(["*"], '"x"')
    assert not etag_matches(['"xy"'], '"x"')
    assert not etag_matches(["x"], '"x"')  # unquoted is not an entity-tag


def test_unknown_card_is_404(client):
    r = client.get(f"/orgs/{A}/cards/pursuit/nope")
    assert r.status_code == 404
    assert "no memory card for pursuit 'nope'" in r.json()["detail"]
    assert client.get(f"/orgs/{A}/cards/pursuit/nope", headers={"If-None-Match": "*"}).status_code == 404


def test_bad_entity_type_or_org_is_422(client):
    assert client.get(f"/orgs/{A}/cards/org/{A}").status_code == 422
    assert client.get(f"/orgs/{A}/cards/deal/c1").status_code == 422
    assert client.get("/orgs/Acme!/cards/candidate/c1").status_code == 422


def test_cards_are_scoped_to_the_org(client):
    acme = client.get(f"/orgs/{A}/cards/candidate/c1")
    globex = client.get(f"/orgs/{B}/cards/candidate/c1")
    assert acme.json()["key_facts"][0]["atom_id"] == "a1"
    assert globex.json()["key_facts"][0]["atom_id"] == "g1"
    assert "Globex" not in acme.text and "Globex" in globex.text
    # Another org's etag never revalidates this org's card, and unknown orgs see nothing.
    r = client.get(f"/orgs/{A}/cards/candidate/c1", headers={"If-None-Match": globex.headers["etag"]})
    assert r.status_code == 200 and "Globex" not in r.text
    assert client.get(f"/orgs/{A}/cards/client/cl2").status_code == 404
    assert client.get("/orgs/initech/cards/candidate/c1").json() == {"detail": "Not Found"}


# --- search --------------------------------------------------------------------------------------------


def test_search_hits(client):
    r = client.get(f"/orgs/{A}/search", params={"q": "pricing"})
    assert r.status_code == 200
    body = r.json()
    ids = [h["atom_id"] for h in body["hits"]]
    assert set(ids) == {"a1", "a2", "a4"}
    assert body["count"] == 3 and body["query"] == "pricing"
    best = body["hits"][0]
    assert set(best) == {
        "atom_id", "entity", "client_id", "type", "occurred_at", "text_score", "relevance", "score", "snippet",
    }  # fmt: skip
    assert best["score"] >= body["hits"][-1]["score"]
    assert "**" in best["snippet"]
    assert best["occurred_at"].endswith("Z")
    hit = {h["atom_id"]: h for h in body["hits"]}["a2"]
    assert hit["entity"] == {"type": "pursuit", "id": "p1"} and hit["type"] == "risk"


def test_search_is_scoped_to_the_org(client):
    acme = client.get(f"/orgs/{A}/search", params={"q": "globex secret pricing"}).json()
    assert all(not h["atom_id"].startswith("g") for h in acme["hits"])
    assert "Globex" not in json.dumps(acme["hits"])
    globex = client.get(f"/orgs/{B}/search", params={"q": "pricing"}).json()
    assert {h["atom_id"] for h in globex["hits"]} == {"g1", "g2"}
    assert client.get("/orgs/initech/search", params={"q": "pricing"}).json() == {"detail": "Not Found"}


def test_search_filters(client):
    def ids(**params):
        r = client.get(f"/orgs/{A}/search", params={"q": "pricing", **params})
        assert r.status_code == 200, r.text
        return sorted(h["atom_id"] for h in r.json()["hits"])

    assert ids(entity_type="pursuit") == ["a2"]
    assert ids(entity_type="candidate", entity_id="c1") == ["a1"]
    assert ids(client_id="cl1") == ["a1", "a2"]
    assert ids(atom_type="note") == ["a4"]
    assert ids(since="2026-10-20T00:00:00Z") == ["a1", "a2"]
    assert ids(until="2026-10-20T00:00:00+00:00") == ["a4"]
    assert ids(since="2026-10-28T00:00:00Z", until="2026-10-31T00:00:00Z") == ["a1"]
    assert len(ids(limit=1)) == 1


def test_search_validation(client):
    url = f"/orgs/{A}/search"
    assert client.get(url).status_code == 422  # q is required
    assert client.get(url, params={"q": ""}).status_code == 422
    assert client.get(url, params={"q": "x", "limit": 0}).status_code == 422
    assert client.get(url, params={"q": "x", "limit": 101}).status_code == 422
    assert client.get(url, params={"q": "x", "limit": 100}).status_code == 200
    assert client.get(url, params={"q": "x", "atom_type": "gossip"}).status_code == 422
    assert client.get(url, params={"q": "x", "since": "2026-10-20T00:00:00"}).status_code == 422  # naive
    r = client.get(url, params={"q": "x", "since": "2026-10-21T00:00:00Z", "until": "2026-10-20T00:00:00Z"})
    assert r.status_code == 422
    # Quotes and SQL in the query are data, not syntax.
    assert client.get(url, params={"q": "pricing'; drop table x; --"}).status_code == 200


# --- today ---------------------------------------------------------------------------------------------


def test_today_ranked_and_scoped(client):
    r = client.get(f"/orgs/{A}/today")
    assert r.status_code == 200
    body = r.json()
    assert body["total"] == 5 and body["count"] == 5 and body["limit"] == 200
    assert [i["rank"] for i in body["items"]] == [1, 2, 3, 4, 5]
    assert body["built_at"] == "2026-11-01T00:00:00Z"
    assert "GLOBEX" not in r.text
    first = body["items"][0]
    assert first["item_id"] == "p-100" and first["tags"] == ["tag"] and first["due_date"] == "2026-11-10"
    assert first["priority_tier"] == "critical" and first["why"] == "why p-100"
    assert first["last_touch_at"] == "2026-10-31T23:00:00Z" and first["built_at"] == "2026-11-01T00:00:00Z"
    globex = client.get(f"/orgs/{B}/today").json()
    assert globex["total"] == 2 and all("GLOBEX" in i["label"] for i in globex["items"])


def test_today_names_each_owner_a_user_event_named_and_leaves_the_others_null(client):
    items = client.get(f"/orgs/{A}/today").json()["items"]
    names = {i["item_id"]: (i["owner"], i["owner_name"]) for i in items}
    assert names["p-100"] == ("alice", "Alice Moreau")
    assert names["c-500"] == (None, None)
    globex = {i["owner"]: i["owner_name"] for i in client.get(f"/orgs/{B}/today").json()["items"]}
    assert globex == {"alice": "Alice Moreau", "zed": None}


def test_today_cap_and_filters(client):
    url = f"/orgs/{A}/today"
    capped = client.get(url, params={"limit": 2}).json()
    assert capped["total"] == 5 and capped["count"] == 2
    assert [i["item_id"] for i in capped["items"]] == ["p-100", "c-200"]
    alice = client.get(url, params={"owner": "alice"}).json()
    assert alice["total"] == 3 and [i["rank"] for i in alice["items"]] == [1, 3, 4]
    high = client.get(url, params={"tier": "high"}).json()
    assert [i["item_id"] for i in high["items"]] == ["c-200", "p-300"]
    both = client.get(url, params={"tier": "high", "owner": "alice", "limit": 1}).json()
    assert both["total"] == 1 and both["items"][0]["item_id"] == "p-300"
    assert client.get(url, params={"limit": 201}).status_code == 422
    assert client.get(url, params={"limit": 0}).status_code == 422
    assert client.get(url, params={"tier": "urgent"}).status_code == 422
    owned_by_nobody = client.get(url, params={"owner": "nobody"}).json()
    assert owned_by_nobody["total"] == 0 and owned_by_nobody["items"] == []
    assert owned_by_nobody["built_at"] == "2026-11-01T00:00:00Z"
    assert client.get("/orgs/initech/today").status_code == 404


# --- health, missing snapshot, swaps, docs -------------------------------------------------------------


def test_health(client):
    r = client.get("/health")
    assert r.status_code == 200
    assert r.json() == {
        "status": "ok",
        "snapshot_version": "v1",
        "built_at": "2026-11-01T00:00:00Z",
        "published_at": "2026-11-01T00:02:00Z",
    }


def test_503_until_a_snapshot_is_published(tmp_path: Path):
    with admin_client(tmp_path) as client:
        for url in (
            "/health",
            f"/orgs/{A}/cards/candidate/c1",
            f"/orgs/{A}/search?q=pricing",
            f"/orgs/{A}/today",
        ):
            r = client.get(url)
            assert r.status_code == 503, url
            assert "no snapshot published yet" in r.json()["detail"]
        publish(tmp_path)
        assert client.get("/health").status_code == 200
        assert client.get(f"/orgs/{A}/cards/candidate/c1").status_code == 200


def test_snapshot_without_memory_tables_is_a_clear_503(tmp_path: Path):
    con = duckdb.connect(str(tmp_path / "serving.duckdb"))
    con.execute("create schema marts")
    con.execute("create table marts.snapshot_info as select 'old' as snapshot_version")
    con.execute(f"create table marts.old_cards as select '{A}' as org_id")
    con.close()
    with admin_client(tmp_path) as client:
        r = client.get(f"/orgs/{A}/cards/candidate/c1")
        assert r.status_code == 503 and "older pipeline" in r.json()["detail"]


def test_replaced_snapshot_is_picked_up(home: Path, client):
    url = f"/orgs/{A}/cards/candidate/c1"
    old = client.get(url)
    assert old.headers["etag"] == '"etag-acme-c1-v1"'
    store = client.app.state.store
    first = store._current
    publish(home, version="v2", acme_c1_etag="etag-acme-c1-v2")
    r = client.get(url, headers={"If-None-Match": old.headers["etag"]})
    assert r.status_code == 200
    assert r.headers["etag"] == '"etag-acme-c1-v2"' and r.json()["etag"] == '"etag-acme-c1-v2"'
    assert r.headers["x-snapshot-version"] == "v2"
    assert client.get("/health").json()["snapshot_version"] == "v2"
    assert store._current is not first and first.retired and first.users == 0
    # Unchanged cards keep their etag across snapshots: revalidation still answers 304.
    r = client.get(f"/orgs/{A}/cards/pursuit/p1", headers={"If-None-Match": '"etag-acme-p1"'})
    assert r.status_code == 304


def test_in_flight_request_keeps_its_version(home: Path):
    app = create_app(home, clock=CLOCK)
    store = app.state.store
    version, cur = store.checkout()
    publish(home, version="v2", acme_c1_etag="etag-acme-c1-v2")
    with TestClient(app, headers=bearer(token_for(home, "admin@example.com", "admin"))) as client:
        assert client.get("/health").json()["snapshot_version"] == "v2"
        # The superseded file is gone from the path but stays readable for the cursor that holds it.
        assert version.retired
        row = cur.execute(
            "select etag from marts.memory_cards where org_id = ? and entity_id = ? and entity_type = ?",
            [A, "c1", "candidate"],
        ).fetchone()
        assert row == ('"etag-acme-c1-v1"',)
        store.release(version, cur)
        assert version.users == 0


def test_openapi_lists_the_routes(client):
    schema = client.get("/openapi.json").json()
    assert {
        "/health",
        "/orgs/{org_id}/cards/{entity_type}/{entity_id}",
        "/orgs/{org_id}/search",
        "/orgs/{org_id}/today",
    } <= set(schema["paths"])
    assert set(schema["paths"]) == {
        p for p in schema["paths"] if p == "/health" or p.startswith("/orgs/{org_id}/")
    }
    assert all(list(ops) == ["get"] for ops in schema["paths"].values())  # read-only
    assert client.get("/docs").status_code == 200


def test_a_503_tells_an_anonymous_caller_nothing_about_where_the_home_is(tmp_path: Path):
    home = tmp_path / "secret-place"
    home.mkdir()
    with TestClient(create_app(home, clock=CLOCK)) as anonymous:
        r = anonymous.get("/health")
        assert r.status_code == 503 and "no snapshot published yet" in r.json()["detail"]
        assert "secret-place" not in r.text and str(tmp_path) not in r.text
    # A file that cannot be opened (not a DuckDB database) says so without its path.
    (home / "serving.duckdb").write_bytes(b"not a database")
    with TestClient(create_app(home, clock=CLOCK)) as anonymous:
        r = anonymous.get("/health")
        assert r.status_code == 503 and "retry shortly" in r.json()["detail"]
        assert "secret-place" not in r.text


def test_an_org_with_rows_in_any_mart_is_served_and_one_with_none_is_not(tmp_path: Path):
    publish(
        tmp_path, panel=[*PANEL, _panel_row("hooli", 1, "p-1", "gavin", "low", "Hooli only in the panel")]
    )
    with admin_client(tmp_path) as client:
        assert client.get("/orgs/hooli/today").json()["total"] == 1
        assert client.get("/orgs/hooli/search", params={"q": "pricing"}).json()["hits"] == []
        assert client.get("/orgs/hooli/cards/candidate/c1").json()["detail"].startswith("no memory card")
        assert client.get("/orgs/piedpiper/today").json() == {"detail": "Not Found"}


def test_only_the_most_recently_used_org_openings_stay_open_and_one_in_use_is_never_closed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    from dagster_project.api import store as store_module

    monkeypatch.setattr(store_module, "SCOPED_MAX", 1)
    extra = [_panel_row(org, 1, "p-1", "o", "low", f"{org} deal") for org in ("hooli", "initech")]
    publish(tmp_path, panel=[*PANEL, *extra])
    with admin_client(tmp_path) as client:
        store = client.app.state.store
        held_version, held_cursor = store.checkout(A)  # a request of acme still reading
        for org in (B, "hooli", "initech"):
            assert client.get(f"/orgs/{org}/today").json()["total"] >= 1
        version = store.fresh_version()
        assert list(version.scoped) == [A, "initech"]  # acme in use, initech the latest
        assert held_cursor.execute("select count(*) from marts.today_panel").fetchone()[0] == 5
        store.release(held_version, held_cursor, A)
        assert list(version.scoped) == ["initech"]
        assert client.get(f"/orgs/{A}/today").json()["total"] == 5
        assert list(version.scoped) == [A]


def test_concurrent_reads_of_many_orgs_each_see_their_own_org_while_openings_are_closed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    from concurrent.futures import ThreadPoolExecutor

    from dagster_project.api import store as store_module

    monkeypatch.setattr(store_module, "SCOPED_MAX", 1)
    orgs = [A, B, "hooli", "initech"]
    publish(tmp_path, panel=[*PANEL, *(_panel_row(o, 1, "p-1", "o", "low", o) for o in orgs[2:])])
    store = store_module.SnapshotStore(tmp_path / "serving.duckdb")

    def read(i: int) -> tuple[str, set[str]]:
        org = orgs[i % len(orgs)]
        with store.cursor(org) as (cur, _version):
            return org, {
                r[0] for r in cur.execute("select distinct org_id from marts.today_panel").fetchall()
            }

    try:
        with ThreadPoolExecutor(max_workers=6) as pool:
            results = list(pool.map(read, range(120)))
        assert all(seen == {org} for org, seen in results)
        version = store.fresh_version()
        assert all(entry.users == 0 for entry in version.scoped.values()) and len(version.scoped) <= 1
    finally:
        store.close()
