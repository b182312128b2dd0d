"""Redaction really erases: plant unique secrets, redact them, find them nowhere under the home folder."""

from __future__ import annotations

import uuid

import duckdb
import pytest

from dagster_project.commands.run import run_pipeline
from tests.erasure_scan import hits_everywhere
from tests.events_factory import write_jsonl
from tests.integration.memory_events import AS_OF, NOW, ORG, age, org_event

pytestmark = pytest.mark.integration


def test_redacted_text_is_gone_from_every_file_under_home(tmp_path):
    secret_note = f"SECRET-NOTE-{uuid.uuid4().hex}"
    secret_recorded = f"SECRET-RECORDED-{uuid.uuid4().hex}"
    secret_fix = f"SECRET-FIX-{uuid.uuid4().hex}"
    kept = f"KEPT-NOTE-{uuid.uuid4().hex}"
    inbox, home = tmp_path / "inbox", tmp_path / "home"
    inbox.mkdir()
    t = "2026-11-20T10:00:00+00:00"
    events = [
        org_event(
            "c1-new", "candidate.created", "candidate", "c1", t, title="Fleet renewal", client_id="cl1"
        ),
        org_event(
            "n1",
            "candidate.note_added",
            "candidate",
            "c1",
            "2026-11-20T11:00:00+00:00",
            text=f"Client prefers {secret_note} for pricing",
        ),
        org_event(
            "n2",
            "candidate.note_added",
            "candidate",
            "c1",
            "2026-11-20T11:30:00+00:00",
            text=f"Remember {kept}",
        ),
        org_event(
            "m1",
            "memory.recorded",
            "candidate",
            "c1",
            "2026-11-20T12:00:00+00:00",
            atom_type="risk",
            content=f"Budget owner {secret_recorded} is leaving",
        ),
        org_event(
            "fix1",
            "memory.corrected",
            "candidate",
            "c1",
            "2026-11-20T13:00:00+00:00",
            atom_id="m1",
            content=f"Budget owner {secret_fix} is leaving",
            reason="wrong name",
        ),
    ]
    # The same note id with other content: a conflicting duplicate, quarantined with its raw text.
    conflicting = dict(events[1], payload={"text": f"Client prefers {secret_note} for pricing, really"})
    write_jsonl(inbox / "a.jsonl", [*events, conflicting])
    age(inbox)
    run_pipeline(home, inbox, as_of=AS_OF, now=NOW, tests=False)
    secrets = [secret_note, secret_recorded, secret_fix]
    before = hits_everywhere(home, [*secrets, kept])
    assert any(secret_note in h for h in before) and any(secret_fix in h for h in before)

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
            ),
            org_event(
                "r2",
                "memory.redacted",
                "candidate",
                "c1",
                "2026-11-21T09:05:00+00:00",
                atom_id="m1",
                reason="asked",
            ),
        ],
    )
    age(inbox)
    run_pipeline(home, inbox, as_of=AS_OF, now=NOW, tests=False)

    assert hits_everywhere(home, secrets) == []
    # Only what was redacted is gone: the other note is still there, and the audit trail remains.
    assert any(kept in h for h in hits_everywhere(home, [kept]))
    con = duckdb.connect(str(home / "serving.duckdb"), read_only=True)
    try:
        atoms = {
            r[0]
            for r in con.execute("select atom_id from marts.memory_atoms where org_id = ?", [ORG]).fetchall()
        }
        audit = con.execute(
            "select action, atom_id from marts.memory_audit where org_id = ? order by occurred_at", [ORG]
        ).fetchall()
    finally:
        con.close()
    assert "n1" not in atoms and "m1" not in atoms and "n2" in atoms
    assert audit == [("correct", "m1"), ("redact", "n1"), ("redact", "m1")]
