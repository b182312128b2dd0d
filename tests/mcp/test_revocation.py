"""A token revoked while an assistant is connected stops working at its next call."""

from __future__ import annotations

import anyio
import pytest
from mcp import Client

from dagster_project.access import add_user, revoke
from dagster_project.mcp.server import build_server
from dagster_project.settings import FixedClock, parse_timestamp
from tests.mcp.conftest import ACME, NOW

pytestmark = pytest.mark.integration


def test_a_revoked_token_is_refused_at_the_next_call_of_an_open_session(home):
    now = parse_timestamp(NOW)
    token = add_user(home, "leaver@acme-corp.com", "viewer", [ACME], now=now)[2]
    server = build_server(home, token=token, clock=FixedClock(now))

    async def main():
        async with Client(server) as client:
            before = await client.call_tool("my_orgs", {})
            revoke(home, "leaver@acme-corp.com", now=now)
            after = await client.call_tool("today_panel", {})
            return before, after

    before, after = anyio.run(main)
    assert not before.is_error and before.structured_content == {"orgs": [ACME]}
    assert after.is_error and "not valid" in " ".join(b.text for b in after.content)
    assert after.structured_content is None
