"""Erasure in every order and form: plant unique texts, erase them, find them nowhere under the home.

Each test ends with `hits_everywhere` (tests/erasure_scan.py), which decodes every format a home holds;
the cases that share one home read their hits from one scan of it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import duckdb
import pytest
from mcp import Client
from typer.testing import CliRunner

from dagster_project.access import add_user
from dagster_project.cli import app
from dagster_project.contract.events import ENVELOPE_FIELDS
from dagster_project.mcp.server import build_server
from dagster_project.memory.atoms import content_hash
from dagster_project.settings import FixedClock, parse_timestamp
from streamlit_app.lib.governance import REDACTED, AtomRef, write_requests
from tests.erasure_scan import hits_everywhere
from tests.events_factory import write_jsonl
from tests.integration.memory_events import AS_OF, NOW, ORG, age, org_event
from tests.shared_homes import copy_home, run_in_memory

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
    run_in_memory(home, inbox, as_of=as_of, now=NOW, tests=False)


def _query(home: Path, sql: str, params: list | None = None) -> list[tuple]:
    con = duckdb.connect(str(home / "serving.duckdb"), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


# The cases below share one home: each plants its texts under its own entity, event ids and file
# names, so they cannot meet. A pipeline run is the suite's dearest step, and the cases need the same
# two runs (plant, then erase), so one pair of runs serves them all; what a case checks between the
# runs is recorded in `Erasures.first`. The as-of rebuild of the correction case comes last, on the
# home itself, once a copy of it as the second run left it (`Erasures.home`) is kept for the others.
# A scan of a whole home decodes every file in it: the home the cases share is scanned once, for
# every text any of them looks for, and each case reads its own texts' hits from that scan.
AT = "2026-11-20T1{}:00:00+00:00".format
REDACTED_AT = "2026-11-21T09:00:00+00:00"


@dataclass
class Erasures:
    home: Path  # after the plant and erase runs
    past: Path  # then rebuilt as of a time before every correction
    tag: str
    first: dict[str, Any]  # what the home held after the plant run
    token: str = ""  # an MCP token of a viewer of ORG
    scan: list[str] = field(default_factory=list)  # `hits_everywhere(home, self.looked_for)`

    @property
    def looked_for(self) -> list[str]:
        """Every text a case looks for in `home`."""
        tag = self.tag
        return [
            *(f"{kind}-{tag}" for kind in ("OLD-NOTE", "OLD-RISK", "OLD-MID", "NEW-NOTE", "NEW-RISK")),
            f"SECRET-EARLY-{tag}",
            f"SECRET-QUAR-{tag}",
            f"Meet in Köln, SECRET-QUAR-{tag} wants pricing",
            f"SECRET-SAME-{tag}",
            *self.redacted.values(),
        ]

    def hits(self, secrets: list[str]) -> list[str]:
        """`hits_everywhere(home, secrets)`, read from the one scan of `home`."""
        assert set(secrets) <= set(self.looked_for), secrets
        return [hit for hit in self.scan if any(hit.endswith(f":{s}") for s in secrets)]

    @property
    def redacted(self) -> dict[str, str]:
        tag = self.tag
        return {
            "note": f"SECRET-NOTE-{tag}",
            "recorded": f"SECRET-RECORDED-{tag}",
            "fix": f"SECRET-FIX-{tag}",
            "kept": f"KEPT-NOTE-{tag}",
        }

    @property
    def corrected(self) -> dict[str, str]:
        tag = self.tag
        return {
            "old_note": f"Client decided OLD-NOTE-{tag} for phase one",
            "new_note": f"Client decided NEW-NOTE-{tag}",
            "old_risk": f"OLD-RISK-{tag} leaves",
            "mid_risk": f"OLD-MID-{tag} leaves",
            "new_risk": f"NEW-RISK-{tag} stays",
        }


def _plant_corrections(inbox: Path, text: dict[str, str]) -> None:
    note = org_event("fix-n1", "candidate.note_added", "candidate", "fix", AT(1), text=text["old_note"])
    events = [
        org_event("fix-new", "candidate.created", "candidate", "fix", AT(0), title="Fleet renewal"),
        note,
        org_event(
            "fix-m1", "memory.recorded", "candidate", "fix", AT(2), atom_type="risk", content=text["old_risk"]
        ),
        org_event(
            "fix-x1",
            "memory.corrected",
            "candidate",
            "fix",
            AT(5),
            atom_id="fix-n1",
            content=text["new_note"],
            reason="typo",
        ),
        org_event(
            "fix-x2",
            "memory.corrected",
            "candidate",
            "fix",
            AT(6),
            atom_id="fix-m1",
            content=text["mid_risk"],
            reason="name",
        ),
        org_event(
            "fix-x3",
            "memory.corrected",
            "candidate",
            "fix",
            AT(7),
            atom_id="fix-m1",
            content=text["new_risk"],
            reason="again",
        ),
    ]
    # The same note id with other content: a conflicting duplicate, quarantined with its raw text.
    conflicting = dict(note, payload={"text": f"{text['old_note']}, really"})
    write_jsonl(inbox / "fix-a.jsonl", [*events, conflicting])


def _plant_early_redaction(inbox: Path) -> None:
    write_jsonl(
        inbox / "early-a.jsonl",
        [
            org_event("early-new", "candidate.created", "candidate", "early", AT(0), title="Fleet"),
            org_event(
                "early-r1",
                "memory.redacted",
                "candidate",
                "early",
                REDACTED_AT,
                atom_id="early-n1",
                reason="asked",
            ),
        ],
    )


def _late_note(inbox: Path, secret: str) -> None:
    note = org_event("early-n1", "candidate.note_added", "candidate", "early", AT(1), text=secret)
    write_jsonl(inbox / "early-b.jsonl", [note])


def _plant_quarantined_copies(inbox: Path, secret: str) -> None:
    note = org_event("quar-n1", "candidate.note_added", "candidate", "quar", AT(1), text=secret)
    write_jsonl(
        inbox / "quar-a.jsonl",
        [org_event("quar-new", "candidate.created", "candidate", "quar", AT(0), title="Fleet"), note],
    )
    # A conflicting re-send with ASCII escapes (K\u00f6ln), and a CSV row whose unquoted payload the
    # comma splits into one field too many: in the same run as the note (files are read in name order).
    escaped = json.dumps(dict(note, payload={"text": secret + " (again)"}), ensure_ascii=True)
    (inbox / "quar-b.jsonl").write_text(escaped + "\n", encoding="utf-8")
    header = ",".join(ENVELOPE_FIELDS)
    ragged = f'quar-n2,{ORG},2026-11-20T12:00:00+00:00,candidate.note_added,candidate,quar,ann,{{"text": "{secret}"}}'
    (inbox / "quar-c.csv").write_text(f"{header}\n{ragged}\n", encoding="utf-8")


def _redact_quarantined_note(inbox: Path) -> None:
    redaction = org_event(
        "quar-r1", "memory.redacted", "candidate", "quar", REDACTED_AT, atom_id="quar-n1", reason="asked"
    )
    write_jsonl(inbox / "quar-d.jsonl", [redaction])


def _plant_same_text(inbox: Path, secret: str, token: str) -> None:
    write_jsonl(
        inbox / "same-a.jsonl",
        [
            org_event(
                "same-new", "signal.created", "signal", "same", AT(0), source_type="email", snippet=secret
            ),
            org_event("same-n1", "signal.note_added", "signal", "same", AT(1), text=f"Note: {secret}"),
            org_event(
                "same-m1",
                "memory.recorded",
                "signal",
                "same",
                AT(2),
                atom_type="preference",
                content=f"Prefers: {secret}",
            ),
            org_event(
                "same-n2", "signal.note_added", "signal", "same", AT(3), text=f"Kept-{token[:6]} unrelated"
            ),
        ],
    )


def _plant_redacted_and_kept(inbox: Path, text: dict[str, str]) -> None:
    events = [
        org_event(
            "red-new", "candidate.created", "candidate", "red", AT(0), title="Fleet renewal", client_id="cl1"
        ),
        org_event(
            "red-n1",
            "candidate.note_added",
            "candidate",
            "red",
            AT(1),
            text=f"Client prefers {text['note']} for pricing",
        ),
        org_event(
            "red-n2",
            "candidate.note_added",
            "candidate",
            "red",
            "2026-11-20T11:30:00+00:00",
            text=f"Remember {text['kept']}",
        ),
        org_event(
            "red-m1",
            "memory.recorded",
            "candidate",
            "red",
            AT(2),
            atom_type="risk",
            content=f"Budget owner {text['recorded']} is leaving",
        ),
        org_event(
            "red-fix1",
            "memory.corrected",
            "candidate",
            "red",
            AT(3),
            atom_id="red-m1",
            content=f"Budget owner {text['fix']} is leaving",
            reason="wrong name",
        ),
    ]
    # The same note id with other content: a conflicting duplicate, quarantined with its raw text.
    conflicting = dict(events[1], payload={"text": f"Client prefers {text['note']} for pricing, really"})
    write_jsonl(inbox / "red-a.jsonl", [*events, conflicting])


def _redact_note_and_recorded(inbox: Path) -> None:
    write_jsonl(
        inbox / "red-b.jsonl",
        [
            org_event(
                "red-r1", "memory.redacted", "candidate", "red", REDACTED_AT, atom_id="red-n1", reason="asked"
            ),
            org_event(
                "red-r2",
                "memory.redacted",
                "candidate",
                "red",
                "2026-11-21T09:05:00+00:00",
                atom_id="red-m1",
                reason="asked",
            ),
        ],
    )


def _mcp_secret(tag: str) -> str:
    """One word of letters only: the search index splits words at anything but a letter, so a secret
    with digits would be many short words, found in the other cases' texts too."""
    return "secret" + tag.translate(str.maketrans("0123456789abcdef", "ghijklmnopqrstuv"))


def _plant_for_mcp(inbox: Path, secret: str) -> None:
    write_jsonl(
        inbox / "mcp-a.jsonl",
        [
            org_event("mcp-new", "candidate.created", "candidate", "mcp", AT(0), title="Fleet"),
            org_event("mcp-n1", "candidate.note_added", "candidate", "mcp", AT(1), text=f"Prefers {secret}"),
            org_event("mcp-n2", "candidate.note_added", "candidate", "mcp", AT(2), text="Kept note"),
        ],
    )


def _redact_for_mcp(inbox: Path) -> None:
    redaction = org_event(
        "mcp-r1", "memory.redacted", "candidate", "mcp", REDACTED_AT, atom_id="mcp-n1", reason="asked"
    )
    write_jsonl(inbox / "mcp-b.jsonl", [redaction])


def _ask(home: Path, token: str, secret: str):
    """What an MCP client of `token` gets: a memory search for `secret`, and the card of the MCP case."""
    server = build_server(home, token=token, clock=FixedClock(parse_timestamp(NOW)))

    async def main():
        async with Client(server) as client:
            search = await client.call_tool("memory_search", {"query": secret})
            card = await client.call_tool("memory_card", {"entity_type": "candidate", "entity_id": "mcp"})
            return search, card

    return anyio.run(main)


def _texts(result) -> str:
    return " ".join(block.text for block in result.content) + str(result.structured_content)


def _holding(home: Path, secret: str) -> list[str]:
    sql = "select atom_id from marts.memory_atoms where org_id = ? and contains(content, ?) order by atom_id"
    return [h[0] for h in _query(home, sql, [ORG, secret])]


@pytest.fixture(scope="module")
def erasures(tmp_path_factory) -> Erasures:
    tag = uuid.uuid4().hex
    root = tmp_path_factory.mktemp("erasures")
    inbox, home = root / "inbox", root / "home"
    inbox.mkdir()
    done = Erasures(home=root / "after", past=home, tag=tag, first={})
    quar_secret = f"Meet in Köln, SECRET-QUAR-{tag} wants pricing"
    same_secret = f"call SECRET-SAME-{tag} on her mobile"

    _plant_corrections(inbox, done.corrected)
    _plant_early_redaction(inbox)
    _plant_quarantined_copies(inbox, quar_secret)
    _plant_same_text(inbox, same_secret, f"SECRET-SAME-{tag}")
    _plant_redacted_and_kept(inbox, done.redacted)
    _plant_for_mcp(inbox, _mcp_secret(tag))
    _run(home, inbox)
    # One scan for the two cases that look at the plant run's files (a hit ends with its text).
    red, quar = list(done.redacted.values()), [f"SECRET-QUAR-{tag}"]
    planted = hits_everywhere(home, red + quar)
    done.first["red_hits"] = [h for h in planted if any(h.endswith(f":{s}") for s in red)]
    done.token = add_user(home, "ann@acme.test", "viewer", [ORG], now=parse_timestamp(NOW))[2]
    done.first["mcp"] = _ask(home, done.token, _mcp_secret(tag))
    done.first["quarantined"] = _query(
        home, "select file from marts.quarantine where file like 'quar-%' order by file"
    )
    done.first["quar_hits"] = [h for h in planted if h.endswith(f":{quar[0]}")]
    holding = _holding(home, same_secret)
    done.first["same_holding"] = holding

    _late_note(inbox, f"SECRET-EARLY-{tag}")
    _redact_quarantined_note(inbox)
    _redact_note_and_recorded(inbox)
    _redact_for_mcp(inbox)
    write_requests(
        inbox,
        event_name=REDACTED,
        org_id=ORG,
        atoms=[AtomRef("signal", "same", atom_id, "note", same_secret) for atom_id in holding],
        actor="ann@acme.test",
        reason="personal phone number",
        now=datetime(2026, 11, 21, 9, tzinfo=UTC),
    )
    _run(home, inbox)
    copy_home(home, done.home)
    done.scan = hits_everywhere(done.home, done.looked_for)

    # As of a time before every correction.
    _run(home, inbox, as_of=AT(3))
    return done


def test_a_correction_leaves_the_old_text_nowhere_at_any_as_of(erasures):
    tag, text, home = erasures.tag, erasures.corrected, erasures.home
    olds = [f"OLD-NOTE-{tag}", f"OLD-RISK-{tag}", f"OLD-MID-{tag}"]
    assert erasures.hits(olds) == []
    news = [f"NEW-NOTE-{tag}", f"NEW-RISK-{tag}"]
    assert all(any(n in h for h in erasures.hits(news)) for n in news)
    atoms = _query(
        home,
        "select atom_id, atom_type, content, version from marts.memory_atoms where org_id = ? and entity_id = 'fix'",
        [ORG],
    )
    by_id = {a[0]: a[1:] for a in atoms}
    # The note keeps the type its old text was classified as; the versions count the corrections.
    assert by_id["fix-n1"] == ("decision", text["new_note"], 2)
    assert by_id["fix-m1"] == ("risk", text["new_risk"], 3)
    audit = _query(
        home,
        "select audit_id, actor, reason, old_content_hash, new_content_hash from marts.memory_audit "
        "where org_id = ? and entity_id = 'fix' and action = 'correct' order by occurred_at",
        [ORG],
    )
    assert audit == [
        ("fix-x1", "ann@acme.test", "typo", content_hash(text["old_note"]), content_hash(text["new_note"])),
        ("fix-x2", "ann@acme.test", "name", content_hash(text["old_risk"]), content_hash(text["mid_risk"])),
        ("fix-x3", "ann@acme.test", "again", content_hash(text["mid_risk"]), content_hash(text["new_risk"])),
    ]

    # As of a time before every correction: the corrected content, never the old one.
    past = erasures.past
    assert hits_everywhere(past, olds) == []
    atoms = _query(
        past, "select atom_id, content from marts.memory_atoms where org_id = ? and entity_id = 'fix'", [ORG]
    )
    current = dict(atoms)
    assert (current["fix-n1"], current["fix-m1"]) == (text["new_note"], text["new_risk"])


def test_a_redaction_that_arrives_before_its_note_erases_the_note_on_arrival(erasures):
    home = erasures.home
    assert erasures.hits([f"SECRET-EARLY-{erasures.tag}"]) == []
    assert _query(home, "select count(*) from marts.memory_atoms where atom_id = 'early-n1'") == [(0,)]


def test_quarantined_copies_in_escaped_json_and_broken_csv_rows_are_erased(erasures):
    token = f"SECRET-QUAR-{erasures.tag}"
    secret = f"Meet in Köln, {token} wants pricing"
    assert erasures.first["quarantined"] == [("quar-b.jsonl",), ("quar-c.csv",)]
    assert any(token in h for h in erasures.first["quar_hits"])

    home = erasures.home
    assert erasures.hits([token, secret]) == []
    # The rows stay in quarantine (nothing is dropped), with the marker in place of the text.
    after = _query(home, "select file, raw from marts.quarantine where file like 'quar-%' order by file")
    assert [q[0] for q in after] == ["quar-b.jsonl", "quar-c.csv"]
    assert all("[redacted: quar-r1]" in q[1] for q in after)


def test_one_request_erases_every_atom_of_an_entity_that_holds_the_same_text(erasures):
    token = f"SECRET-SAME-{erasures.tag}"
    assert erasures.first["same_holding"] == ["same-m1", "same-n1", "same-new:created"]
    home = erasures.home
    assert erasures.hits([token]) == []
    atoms = _query(
        home, "select atom_id from marts.memory_atoms where org_id = ? and entity_id = 'same'", [ORG]
    )
    assert [a[0] for a in atoms] == ["same-n2"]


def test_redacted_text_is_gone_from_every_file_under_home(erasures):
    text = erasures.redacted
    secrets = [text["note"], text["recorded"], text["fix"]]
    before = erasures.first["red_hits"]
    assert any(text["note"] in h for h in before) and any(text["fix"] in h for h in before)

    home = erasures.home
    assert erasures.hits(secrets) == []
    # Only what was redacted is gone: the other note is still there, and the audit trail remains.
    assert any(text["kept"] in h for h in erasures.hits([text["kept"]]))
    atoms = {a[0] for a in _query(home, "select atom_id from marts.memory_atoms where org_id = ?", [ORG])}
    audit = _query(
        home,
        "select action, atom_id from marts.memory_audit where org_id = ? and entity_id = 'red' order by occurred_at",
        [ORG],
    )
    assert "red-n1" not in atoms and "red-m1" not in atoms and "red-n2" in atoms
    assert audit == [("correct", "red-m1"), ("redact", "red-n1"), ("redact", "red-m1")]


def test_a_redacted_note_is_gone_from_mcp_search_and_card_after_the_next_run(erasures):
    """A redaction reaches MCP answers at the next snapshot, like every other reader."""
    secret = _mcp_secret(erasures.tag)
    search, card = erasures.first["mcp"]
    assert search.structured_content["count"] == 1 and secret in _texts(card)

    search, card = _ask(erasures.home, erasures.token, secret)
    assert search.structured_content["hits"] == []  # the answer echoes the query, and nothing else has it
    assert secret not in _texts(card)
    assert not card.is_error and "Kept note" in _texts(card)
