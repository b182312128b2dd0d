"""Erasure in every order and form: plant unique texts, erase them, find them nowhere under the home.

Each test ends with `hits_everywhere` (tests/erasure_scan.py), which decodes every format a home holds.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.erasure_scan import hits_everywhere
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
            _ev("c1-new", "candidate.created", "candidate", "c1", "2026-11-20T10:00:00+00:00", title="Fleet"),
            _ev("n1", "candidate.note_added", "candidate", "c1", "2026-11-20T11:00:00+00:00", text=secret),
        ],
    )
    _age(inbox)
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
            _ev(
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
    _age(inbox)
    rerun = _cli_run(home, inbox)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert list(home.glob(".serving-*")) == []
    assert hits_everywhere(home, [secret]) == []
