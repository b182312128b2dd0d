"""Redaction really erases: plant unique secrets, redact them, find them nowhere under the home folder."""

from __future__ import annotations

import gzip
import os
import sqlite3
import uuid
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from dagster_project.cli import run_pipeline
from tests.events_factory import event, write_jsonl

pytestmark = pytest.mark.integration

NOW = "2026-11-28T12:00:00+00:00"
AS_OF = "2026-11-28T00:00:00+00:00"
ORG = "acme"


def _ev(event_id: str, name: str, entity_type: str, entity_id: str, at: str, **payload) -> dict:
    return event(
        event_id,
        org_id=ORG,
        event_name=name,
        entity_type=entity_type,
        entity_id=entity_id,
        occurred_at=at,
        payload=payload,
    )


def _age(folder: Path) -> None:
    for path in folder.iterdir():
        os.utime(path, (1_700_000_000, 1_700_000_000))


def _hits_in_duckdb(path: Path, secrets: list[str]) -> list[str]:
    found = []
    con = duckdb.connect(str(path), read_only=True)
    try:
        tables = con.execute(
            "select table_catalog, table_schema, table_name from information_schema.tables where table_type = 'BASE TABLE'"
        ).fetchall()
        for catalog, schema, table in tables:
            name = f'"{catalog}"."{schema}"."{table}"'
            text = con.execute(f"select string_agg(cast(columns(*) as varchar), ' ') from {name}").fetchall()
            blob = " ".join(str(v) for row in text for v in row if v is not None)
            found += [f"{path.name}:{schema}.{table}:{s}" for s in secrets if s in blob]
    finally:
        con.close()
    return found


def _hits_everywhere(home: Path, secrets: list[str]) -> list[str]:
    found: list[str] = []
    for path in sorted(p for p in home.rglob("*") if p.is_file()):
        data = path.read_bytes()
        if path.suffix == ".gz":
            data = gzip.decompress(data)
        found += [f"{path}:bytes:{s}" for s in secrets if s.encode() in data]
        if path.suffix == ".parquet":
            table = pq.read_table(path).to_pylist()
            blob = repr(table)
            found += [f"{path}:parquet:{s}" for s in secrets if s in blob]
        elif path.suffix == ".duckdb" and not path.name.startswith("."):
            found += _hits_in_duckdb(path, secrets)
        elif path.suffix in (".sqlite", ".db") and data.startswith(b"SQLite format 3"):
            with sqlite3.connect(path) as con:
                dump = "\n".join(con.iterdump())
            found += [f"{path}:sqlite:{s}" for s in secrets if s in dump]
    return found


def test_redacted_text_is_gone_from_every_file_under_home(tmp_path):
    secret_note = f"SECRET-NOTE-{uuid.uuid4().hex}"
    secret_recorded = f"SECRET-RECORDED-{uuid.uuid4().hex}"
    secret_fix = f"SECRET-FIX-{uuid.uuid4().hex}"
    kept = f"KEPT-NOTE-{uuid.uuid4().hex}"
    inbox, home = tmp_path / "inbox", tmp_path / "home"
    inbox.mkdir()
    t = "2026-11-20T10:00:00+00:00"
    events = [
        _ev("c1-new", "candidate.created", "candidate", "c1", t, title="Fleet renewal", client_id="cl1"),
        _ev(
            "n1",
            "candidate.note_added",
            "candidate",
            "c1",
            "2026-11-20T11:00:00+00:00",
            text=f"Client prefers {secret_note} for pricing",
        ),
        _ev(
            "n2",
            "candidate.note_added",
            "candidate",
            "c1",
            "2026-11-20T11:30:00+00:00",
            text=f"Remember {kept}",
        ),
        _ev(
            "m1",
            "memory.recorded",
            "candidate",
            "c1",
            "2026-11-20T12:00:00+00:00",
            atom_type="risk",
            content=f"Budget owner {secret_recorded} is leaving",
        ),
        _ev(
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
    _age(inbox)
    run_pipeline(home, inbox, as_of=AS_OF, now=NOW, tests=False)
    secrets = [secret_note, secret_recorded, secret_fix]
    before = _hits_everywhere(home, [*secrets, kept])
    assert any(secret_note in h for h in before) and any(secret_fix in h for h in before)

    write_jsonl(
        inbox / "b.jsonl",
        [
            _ev(
                "r1",
                "memory.redacted",
                "candidate",
                "c1",
                "2026-11-21T09:00:00+00:00",
                atom_id="n1",
                reason="asked",
            ),
            _ev(
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
    _age(inbox)
    run_pipeline(home, inbox, as_of=AS_OF, now=NOW, tests=False)

    assert _hits_everywhere(home, secrets) == []
    # Only what was redacted is gone: the other note is still there, and the audit trail remains.
    assert any(kept in h for h in _hits_everywhere(home, [kept]))
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
