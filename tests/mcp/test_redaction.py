"""A redaction reaches MCP answers at the next snapshot, like every other reader."""

from __future__ import annotations

import uuid

import anyio
import pytest
from mcp import Client

from dagster_project.access import add_user
from dagster_project.commands.run import run_pipeline
from dagster_project.mcp.server import build_server
from dagster_project.settings import FixedClock, parse_timestamp
from tests.events_factory import write_jsonl
from tests.integration.memory_events import NOW, ORG, age, org_event

pytestmark = pytest.mark.integration


def _ask(home, token, secret):
    server = build_server(home, token=token, clock=FixedClock(parse_timestamp(NOW)))

    async def main():
        async with Client(server) as client:
            search = await client.call_tool("memory_search", {"query": secret})
            card = await client.call_tool("memory_card", {"entity_type": "candidate", "entity_id": "c1"})
            return search, card

    return anyio.run(main)


def _texts(result) -> str:
    return " ".join(block.text for block in result.content) + str(result.structured_content)


def test_a_redacted_note_is_gone_from_search_and_card_after_the_next_run(tmp_path):
    secret = f"secret{uuid.uuid4().hex}"
    inbox, home = tmp_path / "inbox", tmp_path / "home"
    inbox.mkdir()
    write_jsonl(
        inbox / "a.jsonl",
        [
            org_event(
                "c1-new", "candidate.created", "candidate", "c1", "2026-11-20T10:00:00+00:00", title="Fleet"
            ),
            org_event(
                "n1",
                "candidate.note_added",
                "candidate",
                "c1",
                "2026-11-20T11:00:00+00:00",
                text=f"Prefers {secret}",
            ),
            org_event(
                "n2", "candidate.note_added", "candidate", "c1", "2026-11-20T12:00:00+00:00", text="Kept note"
            ),
        ],
    )
    age(inbox)
    run_pipeline(home, inbox, now=NOW, tests=False)
    token = add_user(home, "ann@acme.test", "viewer", [ORG], now=parse_timestamp(NOW))[2]

    search, card = _ask(home, token, secret)
    assert search.structured_content["count"] == 1 and secret in _texts(card)

    write_jsonl(
        inbox / "b.jsonl",
        [
            org_event(
                "r1",
                "memory.redacted",
                "candidate",
                "c1",
                "2026-11-21T09:00:00+00:00",
                atom_id="n1",
                reason="asked",
            )
        ],
    )
    age(inbox)
    run_pipeline(home, inbox, now=NOW, tests=False)

    search, card = _ask(home, token, secret)
    assert search.structured_content["hits"] == []  # the answer echoes the query, and nothing else has it
    assert secret not in _texts(card)
    assert not card.is_error and "Kept note" in _texts(card)
