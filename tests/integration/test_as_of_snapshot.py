"""`workstream snapshot --as-of`: a past snapshot beside the live one, equal to a home built as of then."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import uuid
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from dagster_project.cli import app
from tests.erasure_scan import hits_everywhere
from tests.events_factory import event, write_jsonl
from tests.shared_homes import (
    GENERATED_PAST,
    SAMPLE_NOW,
    copy_home,
    generated_inbox,
    generated_past_home,
    run_in_memory,
)

pytestmark = pytest.mark.integration

runner = CliRunner()
NOW = SAMPLE_NOW
PAST = GENERATED_PAST
PAST_FILE = "20261015T000000Z.duckdb"
# Operational logs and publish bookkeeping: written at publish time from the control store, not as-of views.
NOT_AS_OF = {"outbox_health", "dead_letters", "alerts", "snapshot_info", "memory_health"}


def _age(folder: Path) -> None:
    for path in folder.iterdir():
        os.utime(path, (1_700_000_000, 1_700_000_000))


def _digest(path: Path) -> str | None:
    # SQLite opens an empty write-ahead log beside a WAL database even for a read: no data, like none.
    data = path.read_bytes() if path.exists() else b""
    return hashlib.sha256(data).hexdigest() if data else None


def _live_state(home: Path) -> dict[str, str | None]:
    """The bytes of every live store: the snapshot and its Parquet log, the warehouse, the control store."""
    files = [home / "serving.duckdb", home / "warehouse.duckdb", home / "control.sqlite"]
    files += [Path(f"{f}.wal") for f in files] + [home / "control.sqlite-wal"]
    files += sorted(p for p in (home / "snapshots").rglob("*") if p.is_file())
    return {str(f): _digest(f) for f in files}


def _entries(home: Path) -> list[str]:
    # SQLite's shared-memory index and log appear beside the control store on any read (a sensor's too).
    return sorted(p.name for p in home.iterdir() if not p.name.endswith(("-shm", "-wal")))


def _snapshot(args: list[str]) -> object:
    return runner.invoke(app, ["snapshot", *args], env={"WORKSTREAM_NOW": NOW})


def _rows(path: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        con.execute("SET TimeZone = 'UTC'")
        return con.execute(sql).fetchall()
    finally:
        con.close()


@pytest.fixture(scope="module")
def homes(tmp_path_factory):
    """A live home (built as of its clock), a past snapshot of it, and a home built with `run --as-of`
    (the session's shared one, tests/shared_homes.py, only read here)."""
    inbox = generated_inbox(tmp_path_factory)
    live = tmp_path_factory.mktemp("live")
    run_in_memory(live, inbox, now=NOW, tests=False)
    before = _live_state(live)
    entries = _entries(live)
    result = _snapshot(["--home", str(live), "--as-of", PAST])
    assert result.exit_code == 0, result.output
    reference = generated_past_home(tmp_path_factory)
    return {
        "live": live,
        "reference": reference,
        "before": before,
        "entries": entries,
        "output": result.output,
    }


def test_a_past_snapshot_keeps_dbts_detail_in_the_homes_log_not_on_the_console(homes):
    assert "PASS=" not in homes["output"] and "Completed successfully" not in homes["output"]
    log = (homes["live"] / "logs" / "snapshot.log").read_text(encoding="utf-8")
    assert "PASS=" in log
    # The scratch copy of the live warehouse took the record of its views and seeds along
    # (warehouse/static_nodes.py): the past snapshot's build made the tables, not those again.
    assert "OK created sql table model marts." in log
    assert "OK created sql view model staging." not in log and "OK loaded seed file" not in log


def test_a_past_snapshot_leaves_the_live_snapshot_warehouse_and_control_store_untouched(homes):
    live = homes["live"]
    assert _live_state(live) == homes["before"]
    # Nothing else appears in the home but the past snapshot's folder (no scratch copy is left behind)
    # (and the log folder the build's detail goes to).
    assert _entries(live) == sorted({*homes["entries"], "as-of", "logs"})
    assert [p.name for p in (live / "as-of").iterdir()] == [PAST_FILE]


# Text the live home's runs erased after the past moment (expired by its clock: every run purges) is
# erased in a past snapshot too: it is built from the live event log, and erased is erased. These marts
# carry such text (or terms, hashes and cards made from it); their other columns must still be equal.
ERASABLE = {
    "memory_atoms": "org_id, atom_id, entity_type, entity_id, client_id, atom_type, source, trust_weight, "
    "tags, occurred_at, expires_at, version, score, relevance, base_score, age_days, half_life_days, "
    "decay_factor, pinned, built_at",
    "memory_search": "org_id, atom_id, entity_type, entity_id, client_id, atom_type, occurred_at, relevance",
    "memory_cards": "org_id, entity_type, entity_id, atoms_total, version, built_at",
    "memory_audit": "org_id, audit_id, action, atom_id, entity_type, entity_id, actor, occurred_at, version, "
    "built_at",
    "memory_search_postings": None,  # term postings of the text itself
    "memory_search_org_stats": "org_id, num_docs",  # avgdl: the text's length
    # A quarantined line repeating an expired text (a conflicting duplicate) is scrubbed with it.
    "quarantine": "file, line, reason, detail, org_id, event_id, quarantined_at, content_hash",
}
EXPIRED = "[redacted: expired:"


def _stable(rows: list[tuple]) -> list[tuple]:
    """Floats to 9 significant digits: a sum's last bit depends on DuckDB's parallel order, not on the data."""
    return [tuple(float(f"{v:.9g}") if isinstance(v, float) else v for v in row) for row in rows]


def test_a_past_snapshots_marts_equal_those_of_a_home_built_as_of_that_time(homes):
    past = homes["live"] / "as-of" / PAST_FILE
    reference = homes["reference"] / "serving.duckdb"
    tables = "select table_name from information_schema.tables where table_schema = 'marts' order by 1"
    names = [n for (n,) in _rows(reference, tables) if n not in NOT_AS_OF and n != "events"]
    assert {n for (n,) in _rows(past, tables)} >= set(names)
    assert "candidates" in names and "memory_atoms" in names
    for name in names:
        columns = ERASABLE.get(name, "*")
        if columns is None:
            continue
        sql = f"select {columns} from marts.{name} order by all"
        assert _stable(_rows(past, sql)) == _stable(_rows(reference, sql)), name
    # The text itself: equal, except an atom that had expired by the live clock, erased in both senses.
    text = "select org_id, atom_id, content, expires_at from marts.memory_atoms order by org_id, atom_id"
    now = datetime.fromisoformat(NOW)
    for mine, theirs in zip(_rows(past, text), _rows(reference, text), strict=True):
        if mine != theirs:
            assert mine[3] is not None and mine[3] <= now and EXPIRED in mine[2], mine
    raw = "select file, line, raw from marts.quarantine order by file, line"
    for mine, theirs in zip(_rows(past, raw), _rows(reference, raw), strict=True):
        if mine != theirs:
            assert mine[:2] == theirs[:2] and EXPIRED in mine[2], mine
    events = (
        "select org_id, event_id, occurred_at, event_name, entity_type, entity_id, actor, "
        "source_file, source_line from marts.events order by org_id, event_id"
    )
    assert _rows(past, events) == _rows(reference, events)
    payloads = "select org_id, event_id, payload::varchar from marts.events order by org_id, event_id"
    for mine, theirs in zip(_rows(past, payloads), _rows(reference, payloads), strict=True):
        if mine != theirs:
            assert EXPIRED in mine[2], mine
    assert _rows(
        past, "select max(occurred_at) <= timestamptz '2026-10-15 00:00:00+00' from marts.events"
    ) == [(True,)]
    live_count = _rows(homes["live"] / "serving.duckdb", "select count(*) from marts.events")[0][0]
    assert 0 < _rows(past, "select count(*) from marts.events")[0][0] < live_count
    (built_at,) = _rows(past, "select built_at from marts.snapshot_info")[0]
    assert built_at == datetime(2026, 10, 15, tzinfo=UTC)


def test_a_past_snapshot_holds_its_events_itself(homes, tmp_path):
    past = homes["live"] / "as-of" / PAST_FILE
    moved = tmp_path / "elsewhere.duckdb"
    moved.write_bytes(past.read_bytes())
    # No view, so nothing points at the live snapshot's Parquet parts a later publish deletes.
    assert _rows(moved, "select count(*) from information_schema.tables where table_type = 'VIEW'") == [(0,)]
    assert _rows(moved, "select count(*) from marts.events") == _rows(
        past, "select count(*) from marts.events"
    )
    assert b"snapshots/parts/" not in moved.read_bytes()


def test_run_as_of_still_builds_the_whole_home_as_of_that_time(homes):
    reference = homes["reference"]
    assert not (reference / "as-of").exists()
    (built_at,) = _rows(reference / "serving.duckdb", "select built_at from marts.snapshot_info")[0]
    assert built_at == datetime(2026, 10, 15, tzinfo=UTC)


@pytest.mark.parametrize(
    ("as_of", "message"),
    [
        ("2026-10-15T00:00", "offset"),
        ("yesterday", "RFC 3339"),
        ("'; drop table marts.events; --", "RFC 3339"),
    ],
)
def test_a_bad_as_of_is_refused_with_a_clear_message(tmp_path, as_of, message):
    result = _snapshot(["--home", str(tmp_path), "--as-of", as_of])
    assert result.exit_code == 2
    # The error box wraps its text: compare words, not lines.
    words = " ".join(re.sub("[│╭╮╰╯─]", " ", result.output).split())
    assert message in words and "Traceback" not in words


def test_a_home_without_a_warehouse_is_refused_with_a_clear_message(tmp_path):
    result = _snapshot(["--home", str(tmp_path / "empty"), "--as-of", PAST])
    assert result.exit_code == 2
    assert "workstream run" in result.output
    assert not (tmp_path / "empty").exists()


def test_an_out_file_that_is_a_live_store_is_refused(homes):
    live = homes["live"]
    for name in ("serving.duckdb", "warehouse.duckdb", "control.sqlite"):
        result = _snapshot(["--home", str(live), "--as-of", PAST, "--out", str(live / name)])
        assert result.exit_code == 2, name
        assert "live files" in result.output
    assert _live_state(live) == homes["before"]


def test_an_out_file_elsewhere_in_the_home_is_refused(homes):
    live = homes["live"]
    parquet = next((live / "snapshots").rglob("*.parquet"))
    for out in (
        parquet,
        live / ".writer.lock",
        live / "dagster" / "x.duckdb",
        live / "as-of" / ".hidden.duckdb",
    ):
        result = _snapshot(["--home", str(live), "--as-of", PAST, "--out", str(out)])
        assert result.exit_code == 2, out
        assert "Traceback" not in result.output
    assert _live_state(live) == homes["before"]


def _ev(event_id: str, name: str, at: str, **payload) -> dict:
    return event(
        event_id,
        org_id="acme",
        event_name=name,
        entity_type="candidate",
        entity_id="c1",
        occurred_at=at,
        payload=payload,
    )


def test_a_later_redaction_reaches_every_past_snapshot(tmp_path):
    secret = f"SECRET-NOTE-{uuid.uuid4().hex}"
    kept = f"KEPT-NOTE-{uuid.uuid4().hex}"
    inbox, home = tmp_path / "inbox", tmp_path / "home"
    inbox.mkdir()
    note = _ev("n1", "candidate.note_added", "2026-11-20T11:00:00+00:00", text=f"Client prefers {secret}")
    write_jsonl(
        inbox / "a.jsonl",
        [
            _ev("c1-new", "candidate.created", "2026-11-20T10:00:00+00:00", title="Fleet", client_id="cl1"),
            note,
            _ev("n2", "candidate.note_added", "2026-11-20T11:30:00+00:00", text=f"Remember {kept}"),
            # The same id with other content: a conflicting duplicate, quarantined with its raw text.
            dict(note, payload={"text": f"Client prefers {secret}, really"}),
        ],
    )
    _age(inbox)
    run_in_memory(home, inbox, now=NOW, tests=False)
    for as_of in ("2026-11-25T00:00:00+00:00", "2026-11-26T00:00:00+00:00"):
        assert _snapshot(["--home", str(home), "--as-of", as_of]).exit_code == 0
    past = sorted((home / "as-of").glob("*.duckdb"))
    assert len(past) == 2
    hits = hits_everywhere(home / "as-of", [secret])
    assert all(any(path.name in h for h in hits) for path in past), hits

    write_jsonl(
        inbox / "b.jsonl",
        [_ev("r1", "memory.redacted", "2026-11-27T09:00:00+00:00", atom_id="n1", reason="asked")],
    )
    _age(inbox)
    run_in_memory(home, inbox, now=NOW, tests=False)

    assert hits_everywhere(home, [secret]) == []
    for path in past:
        atoms = {a for (a,) in _rows(path, "select atom_id from marts.memory_atoms")}
        assert "n1" not in atoms and "n2" in atoms, path.name
        assert kept in str(_rows(path, "select content from marts.memory_search"))
        # The search index was rebuilt over what is left.
        assert _rows(path, "select count(*) from marts.memory_search") == [(len(atoms),)]


def test_a_scrub_removes_what_a_killed_build_left_behind_but_not_a_running_builds_files(tmp_path):
    from dagster_project.serving.past_snapshots import scrub_past_snapshots
    from dagster_project.settings import HomePaths

    dead = subprocess.Popen(["true"])
    dead.wait()
    home = tmp_path / "home"
    (home / "as-of").mkdir(parents=True)
    killed = home / f".as-of-build-{dead.pid}-abc"
    killed.mkdir()
    (killed / "warehouse.duckdb").write_text("SECRET")
    killed_file = home / "as-of" / f".as-of-staged-{dead.pid}-20261015T000000Z.duckdb"
    killed_file.write_text("SECRET")
    running = home / f".as-of-build-{os.getpid()}-def"
    running.mkdir()
    scrub_past_snapshots(HomePaths(home))
    assert not killed.exists() and not killed_file.exists()
    assert running.exists()


def test_the_api_serves_a_past_snapshot_built_by_the_command_with_its_search_index(homes, tmp_path):
    from fastapi.testclient import TestClient

    from dagster_project.api import create_app
    from tests.api.access_helpers import CLOCK, bearer, token_for

    # A user is added to the home: on a copy, so the module's live home stays as the other tests expect.
    live = copy_home(homes["live"], tmp_path / "live")
    past = live / "as-of" / PAST_FILE
    org, content = _rows(past, "select org_id, content from marts.memory_atoms order by atom_id limit 1")[0]
    token = token_for(live, "viewer@example.com", "viewer", [org])
    with TestClient(create_app(live, snapshot=past, clock=CLOCK), headers=bearer(token)) as client:
        health = client.get("/health").json()
        assert health["built_at"].startswith("2026-10-15T00:00:00")
        hits = client.get(f"/orgs/{org}/search", params={"q": content.split()[0]})
        assert hits.status_code == 200
        assert hits.json()["hits"]
