"""An expired atom's text is gone after any run, not only after the nightly one."""

from __future__ import annotations

import uuid

import pytest

from tests.erasure_scan import hits_everywhere
from tests.events_factory import write_jsonl
from tests.integration.memory_events import ORG, age, org_event
from tests.shared_homes import run_in_memory

pytestmark = pytest.mark.integration

NOW = "2026-11-28T12:00:00+00:00"


def test_a_plain_run_erases_expired_notes_from_every_file_under_home(tmp_path):
    expired, live = f"expired-{uuid.uuid4().hex}", f"live-{uuid.uuid4().hex}"
    inbox, home = tmp_path / "inbox", tmp_path / "home"
    inbox.mkdir()
    write_jsonl(
        inbox / "notes.jsonl",
        [
            org_event(
                "cfg",
                "config.changed",
                "org",
                ORG,
                "2026-11-01T00:00:00+00:00",
                key="memory.retention_days.note",
                value=2,
            ),
            org_event("c1", "candidate.created", "candidate", "c1", "2026-11-20T10:00:00+00:00", title="T"),
            # Kept 2 days: expired on 2026-11-22; the other one is still live at the clock.
            org_event(
                "old", "candidate.note_added", "candidate", "c1", "2026-11-20T11:00:00+00:00", text=expired
            ),
            org_event(
                "new", "candidate.note_added", "candidate", "c1", "2026-11-27T11:00:00+00:00", text=live
            ),
        ],
    )
    age(inbox)
    # The run an inbox sensor launches: no schedule, no tag, as of its clock.
    out = run_in_memory(home, inbox, now=NOW, tests=False)
    assert out["assets"]["core/memory_atoms"]["expired_atoms_purged"] == 1
    assert hits_everywhere(home, [expired]) == []
    assert hits_everywhere(home, [live])  # a live note is kept
    # Run in memory (tests/shared_homes.py): the jobs' history is not written to the home.
    assert out["run_id"] and not any((home / "dagster").rglob("*.db"))
