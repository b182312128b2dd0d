"""Who may read what through the API, checked over every route of its OpenAPI document.

Three orgs, each with its own planted strings (memory text, labels, owners) and ids; users of every role.
For every route and every user, no response carries another org's strings or ids (beyond what the request
itself sent); an org the user has no grant for answers exactly like one that does not exist; missing,
forged, expired and revoked tokens are 401; hostile input is a clear 4xx, never a 500.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote, unquote

import pytest
from fastapi.testclient import TestClient

from dagster_project.access import issue_token, read_audit, revoke
from dagster_project.api import create_app
from tests.api.access_helpers import CLOCK, NOW, bearer, token_for
from tests.api.test_api import _card, _panel_row, publish

ORGS = ("acme", "globex", "initech")
MISSING_ORG = "umbrella"  # valid shape, in no snapshot, granted to nobody
# A word per org found only in that org's data: its memory, labels, owners and ids carry it.
PLANT = {org: f"zq{org}plant" for org in ORGS}


def _ids(org: str) -> dict[str, str]:
    return {
        "candidate": f"{org}-cand-1",
        "pursuit": f"{org}-purs-1",
        "client": f"{org}-client-1",
        "signal": f"{org}-sig-1",
    }


def _atoms(org: str) -> list[tuple]:
    ids, word = _ids(org), PLANT[org]
    return [
        (org, f"{org}-atom-1", "candidate", ids["candidate"], ids["client"], "preference",
         f"Pricing preference {word} noted by {org} sales", 2, 80.0),
        (org, f"{org}-atom-2", "pursuit", ids["pursuit"], ids["client"], "risk",
         f"Pricing risk {word} on the renewal", 3, 70.0),
        (org, f"{org}-atom-3", "signal", ids["signal"], None, "note", f"Signal about pricing {word}", 5, 20.0),
    ]  # fmt: skip


def _snapshot_rows() -> tuple[list[tuple], list[tuple], list[tuple]]:
    atoms, cards, panel = [], [], []
    for org in ORGS:
        ids, org_atoms = _ids(org), _atoms(org)
        atoms += org_atoms
        cards += [
            _card(org, "candidate", ids["candidate"], [org_atoms[0]], f"etag-{org}-cand"),
            _card(org, "pursuit", ids["pursuit"], [org_atoms[1]], f"etag-{org}-purs"),
            _card(org, "client", ids["client"], org_atoms[:2], f"etag-{org}-client"),
            _card(org, "signal", ids["signal"], [org_atoms[2]], f"etag-{org}-sig"),
        ]
        panel += [
            _panel_row(org, 1, f"p-{org}-1", f"{org}-owner", "critical", f"{PLANT[org]} deal"),
            _panel_row(org, 2, f"c-{org}-2", f"{org}-owner", "high", f"{PLANT[org]} candidate"),
        ]
    return atoms, cards, panel


def _secrets(org: str) -> set[str]:
    """Every string that belongs to `org` alone and must never reach a user of another org."""
    found = {PLANT[org], f"{org}-atom-", f"{org}-owner", f"etag-{org}-", f"p-{org}-", f"c-{org}-", org}
    return found | set(_ids(org).values())


class Home:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.tokens: dict[str, str] = {}
        self.readable: dict[str, set[str]] = {}

    def user(self, name: str, role: str, orgs: tuple[str, ...] = ()) -> None:
        self.tokens[name] = token_for(self.path, f"{name}@example.com", role, orgs)
        self.readable[name] = set(ORGS) if role == "admin" else set(orgs)


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Home:
    path = tmp_path_factory.mktemp("guard")
    atoms, cards, panel = _snapshot_rows()
    publish(path, atoms=atoms, cards=cards, panel=panel)
    home = Home(path)
    home.user("admin", "admin")
    for org in ORGS:
        home.user(f"viewer-{org}", "viewer", (org,))
        home.user(f"governor-{org}", "governor", (org,))
    home.user("viewer-two", "viewer", ("acme", "globex"))
    # Tokens that must not work: expired before the app's clock, and revoked.
    home.user("expired", "viewer", ("acme",))
    _id, home.tokens["expired"] = issue_token(
        path, "expired@example.com", expires_in_days=1, now=NOW - timedelta(days=2)
    )
    home.user("revoked", "viewer", ("acme",))
    revoke(path, "revoked@example.com", now=NOW)
    return home


@pytest.fixture(scope="module")
def client(home: Home) -> Iterator[TestClient]:
    with TestClient(create_app(home.path, clock=CLOCK)) as c:
        yield c


@pytest.fixture(scope="module")
def schema(client: TestClient) -> dict:
    return client.get("/openapi.json").json()


def _operations(schema: dict) -> list[tuple[str, dict]]:
    return [
        (path, op) for path, ops in schema["paths"].items() for method, op in ops.items() if method == "get"
    ]


# The routes anyone may call (with /openapi.json and /docs, which the document does not list).
PUBLIC = {"/health"}


def _secured(schema: dict) -> list[tuple[str, dict]]:
    """Every other route of the document: each must demand a token."""
    secured = [(path, op) for path, op in _operations(schema) if path not in PUBLIC]
    assert secured
    return secured


def _enum(schema: dict, param: dict) -> list[str] | None:
    spec = param.get("schema", {})
    if "$ref" in spec:
        spec = schema["components"]["schemas"][spec["$ref"].rsplit("/", 1)[-1]]
    for option in spec.get("anyOf", [spec]):
        if "enum" in option:
            return list(option["enum"])
    return None


def _urls(schema: dict, path: str, op: dict, orgs: tuple[str, ...]) -> list[str]:
    """Concrete URLs for a route: every org given, every enum value, every org's ids and search words."""
    every_id = sorted({i for org in ORGS for i in _ids(org).values()})
    words = ["pricing", *PLANT.values()]
    choices: list[list[tuple[str, str]]] = []
    query: list[list[tuple[str, str]]] = []
    names = {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
    if {"entity_type", "entity_id"} <= names:
        # Every org's entities, each under its own type (the rows that could leak), not every pairing.
        choices.append([(("entity_type", t), ("entity_id", i)) for org in ORGS for t, i in _ids(org).items()])
    for param in op.get("parameters", []):
        name = param["name"]
        if (
            param["in"] == "path"
            and name in ("entity_type", "entity_id")
            and {"entity_type", "entity_id"} <= names
        ):
            continue
        if param["in"] == "path":
            values = orgs if name == "org_id" else (_enum(schema, param) or every_id)
            choices.append([((name, v),) for v in values])
        elif param["in"] == "query" and param.get("required"):
            query.append([((name, v),) for v in (_enum(schema, param) or words)])
    urls = []
    for combo in itertools.product(*choices, *query):
        url = path
        params = []
        for name, value in itertools.chain.from_iterable(combo):
            if "{" + name + "}" in url:
                url = url.replace("{" + name + "}", quote(value, safe=""))
            else:
                params.append(f"{name}={quote(value, safe='')}")
        urls.append(url + ("?" + "&".join(params) if params else ""))
    return urls


def _org_of(url: str) -> str:
    return unquote(re.match(r"/orgs/([^/?]+)", url).group(1))


# --- the routes ----------------------------------------------------------------------------------------


def test_only_health_openapi_and_docs_are_public_and_every_other_route_names_its_org(client, schema):
    undeclared = {path for path, op in _operations(schema) if not op.get("security")}
    assert undeclared == PUBLIC
    assert all(path.startswith("/orgs/{org_id}/") for path, _op in _secured(schema))
    assert schema["components"]["securitySchemes"]["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": schema["components"]["securitySchemes"]["bearer"]["description"],
    }
    for url in ("/health", "/openapi.json", "/docs", "/docs/oauth2-redirect"):
        assert client.get(url).status_code == 200, url


def test_no_token_or_a_bad_one_is_401_on_every_route(client, home, schema):
    bad = {
        "none": {},
        "empty bearer": {"Authorization": "Bearer "},
        "other scheme": {"Authorization": f"Basic {home.tokens['admin']}"},
        "forged": bearer("ws_0123456789ab_" + "x" * 43),
        "wrong secret": bearer(home.tokens["admin"][:-4] + "abcd"),
        "expired": bearer(home.tokens["expired"]),
        "revoked": bearer(home.tokens["revoked"]),
        "jwt without oidc": bearer("eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."),
        "non-ascii": {"Authorization": "Bearer ws_ünïcode".encode()},
    }
    for path, op in _secured(schema):
        for url in _urls(schema, path, op, (ORGS[0], MISSING_ORG))[:3]:
            for name, headers in bad.items():
                r = client.get(url, headers=headers)
                assert r.status_code == 401, (name, url, r.text)
                assert r.headers["www-authenticate"] == "Bearer", name
                assert not any(s in r.text for org in ORGS for s in _secrets(org) - {org}), name


def test_failed_token_uses_are_audited_by_hash_never_the_token(client, home):
    forged = "ws_0123456789ab_" + "y" * 43
    assert client.get("/orgs/acme/today", headers=bearer(forged)).status_code == 401
    rows = read_audit(home.path, limit=50)
    assert any(r["action"] == "token.rejected" for r in rows)
    assert forged not in repr(rows) and "y" * 20 not in repr(rows)


def test_no_user_ever_receives_another_orgs_rows_ids_or_text(client, home, schema):
    reference = client.get(f"/orgs/{MISSING_ORG}/today", headers=bearer(home.tokens["admin"]))
    assert reference.status_code == 404
    # The body of an unknown org is the body of an unknown path: nothing tells them apart.
    assert reference.content == client.get("/no-such-route").content
    checked = 0
    for user, token in home.tokens.items():
        if user in ("expired", "revoked"):
            continue
        readable = home.readable[user]
        for path, op in _secured(schema):
            for url in _urls(schema, path, op, (*ORGS, MISSING_ORG)):
                r = client.get(url, headers=bearer(token))
                org = _org_of(url)
                assert r.status_code != 500, (user, url)
                if org not in readable:
                    assert r.status_code == 404, (user, url)
                    assert r.content == reference.content, (user, url)
                    continue
                assert r.status_code in (200, 404), (user, url, r.text)
                # Strings of other orgs the request itself sent may come back (the search echoes its
                # query); nothing else of theirs may.
                sent = unquote(url)
                foreign = {s for other in ORGS if other != org for s in _secrets(other) if s not in sent}
                answer = r.text + repr(sorted(r.headers.items()))
                leaked = sorted(s for s in foreign if s in answer)
                assert not leaked, (user, url, leaked)
                checked += 1
    assert checked > 100


def test_each_org_reads_its_own_data(client, home):
    for org in ORGS:
        headers = bearer(home.tokens[f"viewer-{org}"])
        today = client.get(f"/orgs/{org}/today", headers=headers)
        assert today.status_code == 200 and today.json()["total"] == 2
        assert PLANT[org] in today.text
        hits = client.get(f"/orgs/{org}/search", params={"q": PLANT[org]}, headers=headers).json()["hits"]
        assert {h["atom_id"] for h in hits} == {f"{org}-atom-1", f"{org}-atom-2", f"{org}-atom-3"}
        card = client.get(f"/orgs/{org}/cards/client/{_ids(org)['client']}", headers=headers)
        assert card.status_code == 200 and PLANT[org] in card.text


def test_a_route_that_forgot_its_org_filter_would_still_see_only_its_org(client):
    store = client.app.state.store
    for org in ORGS:
        with store.cursor(org) as (cur, _version):
            for table in ("memory_atoms", "memory_cards", "today_panel", "memory_search"):
                seen = {
                    row[0] for row in cur.execute(f"select distinct org_id from marts.{table}").fetchall()
                }
                assert seen == {org}, table


def test_denied_orgs_are_audited_as_access_denied(client, home):
    before = len(read_audit(home.path, limit=10_000))
    assert client.get("/orgs/globex/today", headers=bearer(home.tokens["viewer-acme"])).status_code == 404
    rows = read_audit(home.path, limit=10_000)
    denied = [r for r in rows[: len(rows) - before] if r["action"] == "access.denied"]
    assert denied and denied[0]["org_id"] == "globex"


# --- hostile input -------------------------------------------------------------------------------------

HOSTILE = [
    "acme' or '1'='1",
    'acme"; drop table marts.today_panel; --',
    "acme) union select * from marts.memory_atoms --",
    "../globex",
    "..%2fglobex",
    "%2e%2e%2fglobex",
    "acme/../globex",
    "a" * 5000,
    "\x00",
    "acme\x00globex",
    "\u202eacme",
    "ACME",
    "*",
    "%",
]


def _raw(value: str) -> str:
    # Percent-encode everything (so `/` and `..` stay inside the segment) except `%` written on purpose.
    return quote(value, safe="%")


@pytest.mark.parametrize("user", ["admin", "viewer-acme"])
def test_hostile_org_ids_are_a_clear_4xx_and_never_another_orgs_data(client, home, schema, user):
    headers = bearer(home.tokens[user])
    for path, op in _secured(schema):
        template = _urls(schema, path, op, ("ORGSLOT",))[0]
        for value in HOSTILE:
            # Encoded, and as typed where a client could send it so (no control characters).
            raws = [_raw(value)] + ([value.replace("/", "%2F")] if value.isprintable() else [])
            for raw in raws:
                url = template.replace("ORGSLOT", raw)
                r = client.get(url, headers=headers)
                assert 400 <= r.status_code < 500, (url, r.status_code, r.text[:200])
                assert "detail" in r.json()
                assert not any(PLANT[org] in r.text for org in ORGS), url


def test_non_utf8_and_hostile_values_in_paths_and_queries_are_a_clear_4xx(client, home):
    headers = bearer(home.tokens["viewer-acme"])
    cases = [
        "/orgs/%ff%fe/today",
        "/orgs/acme/cards/candidate/%ff%fe",
        "/orgs/acme/cards/candidate/%00",
        "/orgs/acme/cards/candidate/" + "x" * 5000,
        "/orgs/acme/cards/candidate/..%2F..%2Fglobex",
        "/orgs/acme/search?q=%ff%fe",
        "/orgs/acme/search?q=" + "x" * 5000,
        "/orgs/acme/search?q=%00",
        "/orgs/acme/search?q=pricing&entity_id=%ff",
        "/orgs/acme/search?q=x&since=%ff",
        "/orgs/acme/search?q=x&limit=1e999",
        "/orgs/acme/today?owner=%ff&tier=%ff",
        "/orgs/acme/today?owner=" + quote("x' or 1=1 --"),
        "/orgs/acme/today?limit=-1",
    ]
    for url in cases:
        r = client.get(url, headers=headers)
        assert r.status_code < 500, (url, r.status_code)
        assert not any(PLANT[org] in r.text for org in ORGS if org != "acme"), url
    # SQL in a value is data: a search for it finds nothing and breaks nothing.
    r = client.get("/orgs/acme/search", params={"q": "x' or 1=1 --"}, headers=headers)
    assert r.status_code == 200 and r.json()["hits"] == []
    assert client.get("/orgs/acme/today", headers=headers).json()["total"] == 2
