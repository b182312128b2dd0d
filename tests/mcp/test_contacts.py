"""`client_contacts` answers from a `contacts` mart once a snapshot has one, scoped like every tool."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import anyio
import duckdb
import pytest
from mcp import Client

from dagster_project.mcp.server import build_server
from dagster_project.settings import FixedClock
from tests.mcp.conftest import ACME, GLOBEX, NOW

pytestmark = pytest.mark.integration


@pytest.fixture
def with_contacts(home: Path, tmp_path: Path) -> Path:
    """A copy of the session's home whose snapshot also has the identity issue's `contacts` mart."""
    copy = tmp_path / "home"
    copy.mkdir()
    shutil.copyfile(home / "serving.duckdb", copy / "serving.duckdb")
    shutil.copyfile(home / "control.sqlite", copy / "control.sqlite")
    seen = datetime(2026, 11, 20, tzinfo=UTC)
    with duckdb.connect(str(copy / "serving.duckdb")) as con:
        con.execute(
            "create or replace table marts.contacts (org_id varchar, contact_id varchar, name varchar, email varchar, "
            "phone varchar, client_id varchar, last_seen_at timestamptz)"
        )
        con.executemany(
            "insert into marts.contacts values (?, ?, ?, ?, ?, ?, ?)",
            [
                (ACME, "p1", "Ann Lee", "ann@coho.example", None, "cli-x", seen),
                (ACME, "p2", "Bo Chan", "bo@coho.example", "+1-555-0100", "cli-x", seen.replace(day=21)),
                (GLOBEX, "p3", "Secret Person", "s@globex.example", None, "cli-x", seen),
            ],
        )
    return copy


def test_the_contacts_of_a_client_come_newest_first_and_only_from_the_tokens_org(with_contacts, tokens):
    server = build_server(with_contacts, token=tokens.acme, clock=FixedClock(datetime.fromisoformat(NOW)))

    async def main():
        async with Client(server) as client:
            return await client.call_tool("client_contacts", {"client_id": "cli-x"})

    result = anyio.run(main)
    assert not result.is_error
    contacts = result.structured_content["contacts"]
    assert [c["contact_id"] for c in contacts] == ["p2", "p1"]
    assert contacts[0]["email"] == "bo@coho.example"
    assert "Secret Person" not in str(result.content) + str(result.structured_content)
