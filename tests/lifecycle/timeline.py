"""Build contract events for lifecycle tests: minutes after a fixed start, in any order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from dagster_project.contract.events import EVENTS

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
PINK = ["budget_confirmed", "technical_scope_defined", "decision_makers_identified", "timeline_agreed"]
RED = ["proposal_reviewed", "pricing_approved", "legal_terms_agreed", "delivery_plan_finalized"]


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def ev(
    event_id: str,
    name: str,
    entity_id: str,
    minutes: float,
    payload: dict[str, Any] | None = None,
    *,
    org: str = "acme",
    entity_type: str | None = None,
) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "org_id": org,
        "occurred_at": at(minutes),
        "event_name": name,
        "entity_type": entity_type or EVENTS[name].entity_types[0],
        "entity_id": org if name == "config.changed" else entity_id,
        "actor": "ann@acme.test",
        "payload": payload or {},
    }


def config(event_id: str, minutes: float, key: str, value: Any, *, org: str = "acme") -> dict[str, Any]:
    return ev(event_id, "config.changed", org, minutes, {"key": key, "value": value}, org=org)


def checklist(prefix: str, pursuit: str, minutes: float, name: str, items: list[str]) -> list[dict[str, Any]]:
    return [
        ev(
            f"{prefix}{i}",
            "pursuit.checklist_item_set",
            pursuit,
            minutes,
            {"checklist": name, "item": item, "done": True},
        )
        for i, item in enumerate(items)
    ]


def promoted_pursuit(prefix: str = "", candidate: str = "c1", pursuit: str = "p1") -> list[dict[str, Any]]:
    """A candidate created, triaged and promoted (minutes 0-2); the pursuit is in `qual` from minute 2."""
    return [
        ev(f"{prefix}e01", "candidate.created", candidate, 0, {"title": "Data platform", "client_id": "cl1"}),
        ev(f"{prefix}e02", "candidate.status_changed", candidate, 1, {"to": "triaged"}),
        ev(
            f"{prefix}e03",
            "candidate.promoted",
            candidate,
            2,
            {
                "pursuit_id": pursuit,
                "due_date": "2026-04-01",
                "forecast_value_usd": 120000,
                "capture_lead": "bo",
            },
        ),
    ]


def happy_path() -> list[dict[str, Any]]:
    """From a signal to a won pursuit, every gate passed."""
    return [
        ev("s01", "signal.created", "sig1", -10, {"source_type": "email", "owner": "ann"}),
        *promoted_pursuit(),
        ev("e04", "candidate.updated", "c1", 3, {"signal_ids": ["sig1"]}),
        ev("e05", "pursuit.stage_changed", "p1", 10, {"to": "pink"}),
        *checklist("pk", "p1", 20, "pink", PINK),
        ev("e06", "pursuit.stage_changed", "p1", 30, {"to": "red"}),
        *checklist("rd", "p1", 40, "red", RED),
        ev("e07", "pursuit.stage_changed", "p1", 50, {"to": "submit"}),
        ev("e08", "pursuit.proposal_sent", "p1", 55, {"proposal_id": "prop1", "version": 1}),
        ev(
            "e09",
            "pursuit.stage_changed",
            "p1",
            60,
            {"to": "won", "reason_code": "price", "reason": "best bid"},
        ),
        ev("n01", "pursuit.note_added", "p1", 61, {"text": "kick-off next week"}),
    ]


# When `log_events` says the events were ingested: after every timeline's events.
INGESTED_AT = datetime(2030, 1, 1, tzinfo=UTC)


def log_events(con: Any, events: list[dict[str, Any]], ingested_at: datetime = INGESTED_AT) -> None:
    """Write these events into a warehouse's `raw.events` as the ingest would (one file, lines 1, 2, …)."""
    con.executemany(
        """insert into raw.events (org_id, event_id, occurred_at, event_name, entity_type, entity_id, actor,
           payload, content_hash, ingested_at, source_file, source_line) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
        [
            (
                e["org_id"],
                e["event_id"],
                e["occurred_at"],
                e["event_name"],
                e["entity_type"],
                e["entity_id"],
                e["actor"],
                orjson.dumps(e["payload"]).decode(),
                e["event_id"],
                ingested_at,
                "f.jsonl",
                i,
            )
            for i, e in enumerate(events, 1)
        ],
    )
