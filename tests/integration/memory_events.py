"""Events of one org for the erasure tests (redaction, correction, purge), written as an inbox holds them."""

from __future__ import annotations

import os
from pathlib import Path

from tests.events_factory import event

NOW = "2026-11-28T12:00:00+00:00"
AS_OF = "2026-11-28T00:00:00+00:00"
ORG = "acme"


def org_event(event_id: str, name: str, entity_type: str, entity_id: str, at: str, **payload) -> dict:
    return event(
        event_id,
        org_id=ORG,
        event_name=name,
        entity_type=entity_type,
        entity_id=entity_id,
        occurred_at=at,
        payload=payload,
    )


def age(folder: Path) -> None:
    """Older than the inbox's settle time, so a run takes the files now."""
    for path in folder.iterdir():
        os.utime(path, (1_700_000_000, 1_700_000_000))
