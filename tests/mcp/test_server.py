"""`workstream mcp` over stdio and streamable HTTP with the SDK's own client: tools, scoping, refusals.

The acme viewer's calls go, over each transport, to one server the module's tests share: over HTTP the
session's server (tests/mcp/conftest.py), over stdio one `workstream mcp` process (`stdio_acme`), as an
assistant keeps one server for its whole conversation. A test that needs a process of its own (another
token, a start that must fail) starts one.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import anyio
import duckdb
import httpx2
import pytest
from anyio.from_thread import start_blocking_portal

from dagster_project.serving import reader
from tests.mcp.conftest import ACME, GLOBEX, connect, server_env

pytestmark = pytest.mark.integration

TOOLS = {
    "my_orgs",
    "memory_card",
    "memory_search",
    "today_panel",
    "sla_status",
    "pipeline_health",
    "client_contacts",
}


@pytest.fixture(params=["stdio", "http"])
def transport(request) -> str:
    return request.param


@pytest.fixture
def url(transport: str, request) -> str | None:
    return request.getfixturevalue("http_url") if transport == "http" else None


def session(transport, home, token, url, body):
    """Run `body(client)` on a fresh client session and return what it returns."""

    async def main():
        async with connect(transport, home, token, url) as client:
            return await body(client)

    return anyio.run(main)


@pytest.fixture(scope="module")
def stdio_acme(home, tokens) -> Iterator[Callable]:
    """`workstream mcp` over stdio with the acme viewer's token, started once for the module: a
    function that runs `body(client)` on its one client session and returns what it returns. The
    session lives on an event loop in a thread of its own (an anyio blocking portal), so it outlasts
    each test's call."""
    with (
        start_blocking_portal() as portal,
        portal.wrap_async_context_manager(connect("stdio", home, tokens.acme)) as client,
    ):
        yield lambda body: portal.call(body, client)


@pytest.fixture
def acme(transport: str, home, tokens, url, request) -> Callable:
    """Runs `body(client)` as the acme viewer over `transport`: on the module's stdio server, or on a
    fresh client session of the session's HTTP server."""
    if transport == "stdio":
        return request.getfixturevalue("stdio_acme")
    return lambda body: session(transport, home, tokens.acme, url, body)


def _one(home: Path, sql: str, *params) -> tuple:
    return reader.run(
        home / "serving.duckdb", lambda con: con.execute(sql, list(params)).fetchone(), scope=reader.SYSTEM
    )


def _client_cards(home: Path, org: str, n: int) -> list[str]:
    return [
        row[0]
        for row in reader.run(
            home / "serving.duckdb",
            lambda con: con.execute(
                "select entity_id from marts.memory_cards where org_id = ? and entity_type = 'client' "
                "order by 1 limit ?",
                [org, n],
            ).fetchall(),
            scope=reader.SYSTEM,
        )
    ]


def _client_card(home: Path, org: str) -> str:
    return _one(
        home,
        "select entity_id from marts.memory_cards where org_id = ? and entity_type = 'client' order by 1 limit 1",
        org,
    )[0]


def _text(result) -> str:
    return " ".join(block.text for block in result.content)


def test_the_server_lists_its_tools_with_descriptions_and_typed_inputs(acme):
    tools = acme(lambda c: c.list_tools())
    by_name = {t.name: t for t in tools.tools}
    assert set(by_name) == TOOLS
    assert all(t.description and len(t.description) > 30 for t in tools.tools)
    assert all(t.annotations.read_only_hint for t in tools.tools)
    card = by_name["memory_card"].input_schema
    assert set(card["required"]) == {"entity_type", "entity_id"}
    assert card["properties"]["entity_type"]["enum"] == ["signal", "candidate", "pursuit", "client"]
    assert "org_id" in card["properties"]


def test_each_tool_answers_for_the_tokens_own_org(home, acme):
    client_id = _client_card(home, ACME)

    async def body(c):
        out = {"orgs": await c.call_tool("my_orgs", {})}
        out["today"] = await c.call_tool("today_panel", {"limit": 3})
        item = out["today"].structured_content["items"][0]
        out["sla"] = await c.call_tool(
            "sla_status", {"item_type": item["item_type"], "item_id": item["item_id"]}
        )
        out["card"] = await c.call_tool("memory_card", {"entity_type": "client", "entity_id": client_id})
        out["search"] = await c.call_tool("memory_search", {"query": "pricing", "limit": 5})
        out["pipeline"] = await c.call_tool(
            "pipeline_health", {"since": "2026-01-01T00:00:00Z", "until": "2026-12-01T00:00:00Z"}
        )
        out["contacts"] = await c.call_tool("client_contacts", {"client_id": client_id})
        return out, item

    out, item = acme(body)
    assert out["orgs"].structured_content == {"orgs": [ACME]}
    today = out["today"].structured_content
    assert today["org_id"] == ACME and today["count"] == 3 and today["total"] >= 3
    assert [i["rank"] for i in today["items"]] == sorted(i["rank"] for i in today["items"])
    assert all(i["why"] for i in today["items"]) and "why:" in _text(out["today"])
    sla = out["sla"].structured_content
    assert sla["item_id"] == item["item_id"] and sla["timeline"] and sla["timeline"][0]["event_id"]
    card = out["card"].structured_content
    assert card["entity_id"] == client_id and card["atoms_total"] > 0
    assert card["uri"] == f"workstream://{ACME}/cards/client/{client_id}"
    hits = out["search"].structured_content["hits"]
    assert hits and all(h["atom_id"] and h["entity_id"] for h in hits)
    pipeline = out["pipeline"].structured_content
    assert [s["stage"] for s in pipeline["stages"]] == ["qual", "pink", "red", "submit"]
    assert pipeline["won"] + pipeline["lost"] > 0
    # The snapshot has the identity marts now: the tool answers from them, for this org only.
    assert not out["contacts"].is_error
    assert all(c["contact_id"] for c in out["contacts"].structured_content["contacts"])
    assert not any(out[k].is_error for k in ("orgs", "today", "sla", "card", "search", "pipeline"))


def test_another_orgs_data_is_refused_with_an_error_naming_none_of_it(home, acme):
    theirs = _client_card(home, GLOBEX)
    their_label = _one(
        home, "select label from marts.today_panel where org_id = ? order by rank limit 1", GLOBEX
    )[0]

    async def body(c):
        return [
            await c.call_tool("today_panel", {"org_id": GLOBEX}),
            await c.call_tool(
                "memory_card", {"entity_type": "client", "entity_id": theirs, "org_id": GLOBEX}
            ),
            await c.call_tool("memory_card", {"entity_type": "client", "entity_id": theirs}),
            await c.call_tool("memory_search", {"query": "pricing", "org_id": GLOBEX}),
            await c.call_tool("pipeline_health", {"org_id": GLOBEX}),
        ]

    results = acme(body)
    assert all(r.is_error for r in results[:2] + results[3:])
    refused = _text(results[0])
    assert f"no org '{GLOBEX}' among the orgs this token can read ({ACME})" in refused
    # The card of another org's client, asked without an org, is read in the token's own org: not found.
    assert results[2].is_error and f"in org '{ACME}'" in _text(results[2])
    for result in results:
        assert their_label not in _text(result) and result.structured_content is None


@pytest.mark.parametrize(
    ("tool", "arguments"),
    [
        ("memory_search", {"query": "x" * 10_000}),
        ("memory_search", {"query": "pricing", "limit": 10**9}),
        (
            "memory_search",
            {"query": "pricing", "since": "2026-11-01T00:00:00Z", "until": "2026-10-01T00:00:00Z"},
        ),
        ("memory_search", {"query": "pricing", "since": "last tuesday"}),
        ("memory_card", {"entity_type": "client", "entity_id": "cl\x00i"}),
        ("memory_card", {"entity_type": "client", "entity_id": "y" * 5_000}),
        ("memory_card", {"entity_type": "users; drop table marts.events", "entity_id": "x"}),
        ("memory_card", {"entity_type": "client", "entity_id": "x", "org_id": "' or 1=1 --"}),
        ("today_panel", {"owner": "o" * 400}),
        ("sla_status", {"item_type": "pursuit", "item_id": "'; select * from marts.events --"}),
        ("memory_card", {"entity_type": "client"}),
        ("no_such_tool", {}),
    ],
)
def test_hostile_and_oversize_arguments_are_tool_errors_and_the_server_keeps_serving(acme, tool, arguments):
    async def body(c):
        return await c.call_tool(tool, arguments), await c.call_tool("my_orgs", {})

    bad, after = acme(body)
    assert bad.is_error and _text(bad)
    assert "Traceback" not in _text(bad)
    assert not after.is_error


def test_a_card_is_a_resource_scoped_like_the_tools(home, acme):
    mine, theirs = _client_card(home, ACME), _client_card(home, GLOBEX)

    async def body(c):
        templates = await c.list_resource_templates()
        ok = await c.read_resource(f"workstream://{ACME}/cards/client/{mine}")
        try:
            await c.read_resource(f"workstream://{GLOBEX}/cards/client/{theirs}")
        except Exception as exc:  # the SDK raises the server's error
            refused = str(exc)
        else:
            refused = None
        return templates, ok, refused

    templates, ok, refused = acme(body)
    assert [t.uri_template for t in templates.resource_templates] == [
        "workstream://{org_id}/cards/{entity_type}/{entity_id}"
    ]
    assert f'"entity_id":"{mine}"' in ok.contents[0].text
    assert refused is not None and "among the orgs this token can read" in refused


def test_an_admin_token_names_the_org_it_reads(home, tokens, transport, url):
    async def body(c):
        return await c.call_tool("today_panel", {}), await c.call_tool("today_panel", {"org_id": GLOBEX})

    unnamed, named = session(transport, home, tokens.admin, url, body)
    assert unnamed.is_error and f"pass `org_id`, one of {ACME}, {GLOBEX}" in _text(unnamed)
    assert not named.is_error and named.structured_content["org_id"] == GLOBEX


def test_a_forged_token_is_refused_over_http(home, tokens, http_url):
    forged = tokens.acme[:-4] + ("AAAA" if not tokens.acme.endswith("AAAA") else "BBBB")
    for authorization in (f"Bearer {forged}", "Bearer ws_000000000000_nothing", f"Basic {tokens.acme}"):
        answer = httpx2.post(
            http_url,
            headers={"Authorization": authorization, "Accept": "application/json, text/event-stream"},
            json={"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}},
        )
        assert answer.status_code == 401, authorization
    answer = httpx2.post(http_url, json={"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}})
    assert answer.status_code == 401


@pytest.mark.parametrize("token", [None, "", "ws_000000000000_nothing", "forged"])
def test_stdio_without_a_valid_token_exits_at_once_with_a_message_on_stderr(home, tokens, token):
    env = {k: v for k, v in os.environ.items() if k != "WORKSTREAM_TOKEN"}
    env.update(server_env())
    if token is not None:
        env["WORKSTREAM_TOKEN"] = tokens.acme[:-3] + "xyz" if token == "forged" else token
    done = subprocess.run(
        [sys.executable, "-m", "dagster_project.cli", "mcp", "--home", str(home)],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert done.stdout == b""  # stdout is the protocol's: nothing else is ever written there
    assert b"WORKSTREAM_TOKEN" in done.stderr


@pytest.mark.parametrize("http", [False, True])
def test_mcp_refuses_a_home_that_is_not_a_folder_and_creates_nothing(tmp_path, http):
    missing = tmp_path / "no-such-home"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "dagster_project.cli",
            "mcp",
            "--home",
            str(missing),
            *(["--http"] if http else []),
        ],
        env={**os.environ, **server_env(WORKSTREAM_TOKEN="ws_000000000000_x")},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=120,
    )
    assert done.returncode == 2 and done.stdout == b""
    assert b"is not a folder" in done.stderr
    assert not missing.exists()


def test_a_new_snapshot_is_announced_to_listeners_with_the_cards_that_changed(home, acme, tmp_path):
    from mcp.client.subscriptions import ResourcesListChanged, ResourceUpdated

    serving = home / "serving.duckdb"
    changed, same = _client_cards(home, ACME, 2)
    uris = [f"workstream://{ACME}/cards/client/{entity}" for entity in (changed, same)]

    async def body(c):
        for entity in (changed, same):  # the server tracks the cards it has served
            await c.call_tool("memory_card", {"entity_type": "client", "entity_id": entity})
        async with c.listen(resources_list_changed=True, resource_subscriptions=uris) as subscription:
            # What a publish does: a new file swapped in under the same name; in it one card changed.
            copy = tmp_path / "copy.duckdb"
            shutil.copyfile(serving, copy)
            with duckdb.connect(str(copy)) as con:
                con.execute(
                    "update marts.memory_cards set etag = etag || '-new' "
                    "where org_id = ? and entity_type = 'client' and entity_id = ?",
                    [ACME, changed],
                )
            os.replace(copy, serving)
            events = []
            with anyio.fail_after(60):  # a bound so a broken watcher fails the test instead of hanging it
                async for event in subscription:
                    events.append(event)
                    if any(isinstance(e, ResourceUpdated) for e in events) and any(
                        isinstance(e, ResourcesListChanged) for e in events
                    ):
                        return events

    events = acme(body)
    assert [e.uri for e in events if isinstance(e, ResourceUpdated)] == [uris[0]]
