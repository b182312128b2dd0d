"""Erasure in every order and form: plant unique texts, erase them, find them nowhere under the home.

Each test ends with `hits_everywhere` (tests/erasure_scan.py), which decodes every format a home holds.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from dagster_project.cli import app
from dagster_project.commands.run import run_pipeline
from dagster_project.contract.events import ENVELOPE_FIELDS
from dagster_project.memory.atoms import content_hash
from streamlit_app.lib.governance import REDACTED, AtomRef, write_requests
from tests.erasure_scan import hits_everywhere
from tests.events_factory import write_jsonl
from tests.integration.memory_events import AS_OF, NOW, ORG, age, org_event

pytestmark = pytest.mark.integration


def _cli_run(
    home: Path, inbox: Path, *, now: str = NOW, kill_at: str | None = None
) -> subprocess.CompletedProcess:
    env = {**os.environ, "WORKSTREAM_NOW": now}
    env.pop("WORKSTREAM_KILL_AT", None)
    if kill_at:
        env["WORKSTREAM_KILL_AT"] = kill_at
    cli = Path(sys.executable).parent / "workstream"
    return subprocess.run(
        [str(cli), "run", "--inbox", str(inbox), "--home", str(home), "--as-of", AS_OF, "--skip-tests"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def _die_while_writing(path: Path, secret: str) -> None:
    """A process that dies (SIGKILL) with rows in a DuckDB file's WAL, not yet checkpointed."""
    code = (
        "import duckdb, os, signal, sys\n"
        "con = duckdb.connect(sys.argv[1])\n"
        "con.execute(\"set checkpoint_threshold = '1GB'\")\n"
        "con.execute('create schema if not exists marts')\n"
        "con.execute('create table marts.memory_atoms_copy (content varchar)')\n"
        "con.execute('insert into marts.memory_atoms_copy values (?)', [sys.argv[2]])\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    done = subprocess.run([sys.executable, "-c", code, str(path), secret], capture_output=True, timeout=120)
    assert done.returncode == -signal.SIGKILL, done.stderr


def test_a_publish_killed_midway_leaves_no_copy_of_text_a_later_redaction_erased(tmp_path):
    secret = f"SECRET-LEFTOVER-{uuid.uuid4().hex}"
    inbox, home = tmp_path / "inbox", tmp_path / "home"
    inbox.mkdir()
    write_jsonl(
        inbox / "a.jsonl",
        [
            org_event(
                "c1-new", "candidate.created", "candidate", "c1", "2026-11-20T10:00:00+00:00", title="Fleet"
            ),
            org_event(
                "n1", "candidate.note_added", "candidate", "c1", "2026-11-20T11:00:00+00:00", text=secret
            ),
        ],
    )
    age(inbox)
    # Earlier clock times than the rerun's: a publish names its file after its time.
    killed = _cli_run(home, inbox, now="2026-11-28T10:00:00+00:00", kill_at="before_publish")
    assert killed.returncode == -signal.SIGKILL, killed.stdout + killed.stderr
    # A second writer killed while its rows were still only in the WAL.
    _die_while_writing(home / ".serving-20261128T110000000000Z.duckdb", secret)
    leftovers = sorted(p.name for p in home.glob(".serving-*"))
    assert any(n.endswith(".wal") for n in leftovers) and len(leftovers) >= 2
    assert any(".serving-" in h for h in hits_everywhere(home, [secret]))

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
    # The rerun in this process (its imports are paid for): only the run to be killed needs its own.
    args = ["run", "--inbox", str(inbox), "--home", str(home), "--as-of", AS_OF, "--skip-tests"]
    rerun = CliRunner().invoke(app, args, env={"WORKSTREAM_NOW": NOW, "WORKSTREAM_KILL_AT": None})
    assert rerun.exit_code == 0, rerun.output
    assert list(home.glob(".serving-*")) == []
    assert hits_everywhere(home, [secret]) == []


def _run(home: Path, inbox: Path, as_of: str = AS_OF) -> None:
    age(inbox)
    run_pipeline(home, inbox, as_of=as_of, now=NOW, tests=False)


def _query(home: Path, sql: str, params: list | None = None) -> list[tuple]:
    con = duckdb.connect(str(home / "serving.duckdb"), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def test_a_correction_leaves_the_old_text_nowhere_at_any_as_of(tmp_path):
    tag = uuid.uuid4().hex
    old_note, new_note = f"Client decided OLD-NOTE-{tag} for phase one", f"Client decided NEW-NOTE-{tag}"
    old_risk, mid_risk, new_risk = f"OLD-RISK-{tag} leaves", f"OLD-MID-{tag} leaves", f"NEW-RISK-{tag} stays"
    inbox, home = tmp_path / "inbox", tmp_path / "home"
    inbox.mkdir()
    at = "2026-11-20T1{}:00:00+00:00".format
    note = org_event("n1", "candidate.note_added", "candidate", "c1", at(1), text=old_note)
    events = [
        org_event("c1-new", "candidate.created", "candidate", "c1", at(0), title="Fleet renewal"),
        note,
        org_event("m1", "memory.recorded", "candidate", "c1", at(2), atom_type="risk", content=old_risk),
        org_event(
            "x1", "memory.corrected", "candidate", "c1", at(5), atom_id="n1", content=new_note, reason="typo"
        ),
        org_event(
            "x2", "memory.corrected", "candidate", "c1", at(6), atom_id="m1", content=mid_risk, reason="name"
        ),
        org_event(
            "x3", "memory.corrected", "candidate", "c1", at(7), atom_id="m1", content=new_risk, reason="again"
        ),
    ]
    # The same note id with other content: a conflicting duplicate, quarantined with its raw text.
    conflicting = dict(note, payload={"text": f"{old_note}, really"})
    write_jsonl(inbox / "a.jsonl", [*events, conflicting])
    _run(home, inbox)
    olds = [f"OLD-NOTE-{tag}", f"OLD-RISK-{tag}", f"OLD-MID-{tag}"]
    assert hits_everywhere(home, olds) == []
    news = [f"NEW-NOTE-{tag}", f"NEW-RISK-{tag}"]
    assert all(any(n in h for h in hits_everywhere(home, news)) for n in news)
    atoms = _query(
        home, "select atom_id, atom_type, content, version from marts.memory_atoms where org_id = ?", [ORG]
    )
    by_id = {a[0]: a[1:] for a in atoms}
    # The note keeps the type its old text was classified as; the versions count the corrections.
    assert by_id["n1"] == ("decision", new_note, 2) and by_id["m1"] == ("risk", new_risk, 3)
    audit = _query(
        home,
        "select audit_id, actor, reason, old_content_hash, new_content_hash from marts.memory_audit "
        "where org_id = ? and action = 'correct' order by occurred_at",
        [ORG],
    )
    assert audit == [
        ("x1", "ann@acme.test", "typo", content_hash(old_note), content_hash(new_note)),
        ("x2", "ann@acme.test", "name", content_hash(old_risk), content_hash(mid_risk)),
        ("x3", "ann@acme.test", "again", content_hash(mid_risk), content_hash(new_risk)),
    ]

    # As of a time before every correction: the corrected content, never the old one.
    _run(home, inbox, as_of=at(3))
    assert hits_everywhere(home, olds) == []
    atoms = _query(home, "select atom_id, content from marts.memory_atoms where org_id = ?", [ORG])
    current = dict(atoms)
    assert (current["n1"], current["m1"]) == (new_note, new_risk)


def test_a_redaction_that_arrives_before_its_note_erases_the_note_on_arrival(tmp_path):
    secret = f"SECRET-EARLY-{uuid.uuid4().hex}"
    inbox, home = tmp_path / "inbox", tmp_path / "home"
    inbox.mkdir()
    write_jsonl(
        inbox / "a.jsonl",
        [
            org_event(
                "c1-new", "candidate.created", "candidate", "c1", "2026-11-20T10:00:00+00:00", title="Fleet"
            ),
            org_event(
                "r1",
                "memory.redacted",
                "candidate",
                "c1",
                "2026-11-21T09:00:00+00:00",
                atom_id="n1",
                reason="asked",
            ),
        ],
    )
    _run(home, inbox)
    write_jsonl(
        inbox / "b.jsonl",
        [
            org_event(
                "n1", "candidate.note_added", "candidate", "c1", "2026-11-20T11:00:00+00:00", text=secret
            )
        ],
    )
    _run(home, inbox)
    assert hits_everywhere(home, [secret]) == []
    assert _query(home, "select count(*) from marts.memory_atoms where atom_id = 'n1'") == [(0,)]


def test_quarantined_copies_in_escaped_json_and_broken_csv_rows_are_erased(tmp_path):
    token = f"SECRET-QUAR-{uuid.uuid4().hex}"
    secret = f"Meet in Köln, {token} wants pricing"
    inbox, home = tmp_path / "inbox", tmp_path / "home"
    inbox.mkdir()
    note = org_event(
        "n1", "candidate.note_added", "candidate", "c1", "2026-11-20T11:00:00+00:00", text=secret
    )
    write_jsonl(
        inbox / "a.jsonl",
        [
            org_event(
                "c1-new", "candidate.created", "candidate", "c1", "2026-11-20T10:00:00+00:00", title="Fleet"
            ),
            note,
        ],
    )
    # A conflicting re-send with ASCII escapes (K\u00f6ln), and a CSV row whose unquoted payload the
    # comma splits into one field too many: in the same run as the note (files are read in name order).
    escaped = json.dumps(dict(note, payload={"text": secret + " (again)"}), ensure_ascii=True)
    (inbox / "b.jsonl").write_text(escaped + "\n", encoding="utf-8")
    header = ",".join(ENVELOPE_FIELDS)
    ragged = (
        f'n2,{ORG},2026-11-20T12:00:00+00:00,candidate.note_added,candidate,c1,ann,{{"text": "{secret}"}}'
    )
    (inbox / "c.csv").write_text(f"{header}\n{ragged}\n", encoding="utf-8")
    _run(home, inbox)
    quarantined = _query(home, "select file, raw from marts.quarantine order by file")
    assert [q[0] for q in quarantined] == ["b.jsonl", "c.csv"]
    assert any(token in h for h in hits_everywhere(home, [token]))

    write_jsonl(
        inbox / "d.jsonl",
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
    _run(home, inbox)
    assert hits_everywhere(home, [token, secret]) == []
    # The rows stay in quarantine (nothing is dropped), with the marker in place of the text.
    after = _query(home, "select file, raw from marts.quarantine order by file")
    assert [q[0] for q in after] == ["b.jsonl", "c.csv"] and all("[redacted: r1]" in q[1] for q in after)


def test_one_request_erases_every_atom_of_an_entity_that_holds_the_same_text(tmp_path):
    token = f"SECRET-SAME-{uuid.uuid4().hex}"
    secret = f"call {token} on her mobile"
    inbox, home = tmp_path / "inbox", tmp_path / "home"
    inbox.mkdir()
    at = "2026-11-20T1{}:00:00+00:00".format
    write_jsonl(
        inbox / "a.jsonl",
        [
            org_event("s1-new", "signal.created", "signal", "s1", at(0), source_type="email", snippet=secret),
            org_event("n1", "signal.note_added", "signal", "s1", at(1), text=f"Note: {secret}"),
            org_event(
                "m1",
                "memory.recorded",
                "signal",
                "s1",
                at(2),
                atom_type="preference",
                content=f"Prefers: {secret}",
            ),
            org_event("n2", "signal.note_added", "signal", "s1", at(3), text=f"Kept-{token[:6]} unrelated"),
        ],
    )
    _run(home, inbox)
    holding = _query(
        home,
        "select atom_id from marts.memory_atoms where org_id = ? and contains(content, ?) order by atom_id",
        [ORG, secret],
    )
    assert [h[0] for h in holding] == ["m1", "n1", "s1-new:created"]
    write_requests(
        inbox,
        event_name=REDACTED,
        org_id=ORG,
        atoms=[AtomRef("signal", "s1", h[0], "note", secret) for h in holding],
        actor="ann@acme.test",
        reason="personal phone number",
        now=datetime(2026, 11, 21, 9, tzinfo=UTC),
    )
    _run(home, inbox)
    assert hits_everywhere(home, [token]) == []
    atoms = _query(
        home, "select atom_id from marts.memory_atoms where org_id = ? and entity_id = 's1'", [ORG]
    )
    assert [a[0] for a in atoms] == ["n2"]
