"""The scrub that keeps past snapshots in line with the event log, on hand-made files (no pipeline).

A past snapshot is a copy: whatever later rewrites a payload in the warehouse's log (a redaction, a
correction's scrub, the purge of an expired atom) must reach every table of the copy too.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import duckdb

from dagster_project.serving.past_snapshots import scrub_past_snapshot

OLD = 'Budget owner "Ann O\'Neil" is leaving'
NEW = "Budget owner is leaving"


def _warehouse(path: Path, text: str, *, redacted: list[tuple[str, str]] = ()) -> None:
    with duckdb.connect(str(path)) as con:
        con.execute("create schema raw; create schema core")
        con.execute("create table raw.events (org_id varchar, event_id varchar, payload json)")
        con.execute(
            "insert into raw.events values ('acme', 'm1', ?), ('acme', 'n2', ?)",
            [json.dumps({"atom_type": "risk", "content": text}), json.dumps({"text": "kept note"})],
        )
        con.execute("create table core.memory_audit (org_id varchar, atom_id varchar, action varchar)")
        for org, atom in redacted:
            con.execute("insert into core.memory_audit values (?, ?, 'redact')", [org, atom])


def _past(path: Path) -> None:
    with duckdb.connect(str(path)) as con:
        con.execute("create schema marts")
        con.execute("create table marts.events (org_id varchar, event_id varchar, payload json)")
        con.execute(
            "insert into marts.events values ('acme', 'm1', ?), ('acme', 'n2', ?)",
            [json.dumps({"atom_type": "risk", "content": OLD}), json.dumps({"text": "kept note"})],
        )
        con.execute(
            "create table marts.memory_atoms (org_id varchar, atom_id varchar, entity_type varchar, "
            "entity_id varchar, client_id varchar, atom_type varchar, content varchar, "
            "occurred_at timestamptz, relevance double, tags varchar[])"
        )
        con.execute(
            "insert into marts.memory_atoms values "
            "('acme', 'm1', 'candidate', 'c1', null, 'risk', ?, '2026-11-20 12:00:00+00', 50, [?]),"
            "('acme', 'n2', 'candidate', 'c1', null, 'note', 'kept note', '2026-11-20 12:00:00+00', 40, [])",
            [OLD, OLD],
        )
        con.execute("create table marts.memory_cards (org_id varchar, top_atoms json)")
        con.execute("insert into marts.memory_cards values ('acme', ?)", [json.dumps([{"content": OLD}])])
        con.execute("create table marts.quarantine (raw varchar, detail varchar)")
        con.execute(
            "insert into marts.quarantine values (?, null)", [json.dumps({"content": OLD + ", really"})]
        )


def _text(path: Path) -> str:
    with duckdb.connect(str(path), read_only=True) as con:
        tables = con.execute(
            "select table_schema, table_name from information_schema.tables where table_type = 'BASE TABLE'"
        ).fetchall()
        return " ".join(
            str(con.execute(f'select * from "{schema}"."{table}"').fetchall()) for schema, table in tables
        )


def test_a_rewritten_payload_in_the_log_replaces_the_old_text_in_every_table_of_a_past_snapshot(tmp_path):
    warehouse, past = tmp_path / "warehouse.duckdb", tmp_path / "past.duckdb"
    _warehouse(warehouse, NEW)
    _past(past)
    assert "Ann O" in _text(past)

    assert scrub_past_snapshot(past, warehouse) is True

    text = _text(past)
    assert "Ann O" not in text and "Neil" not in text
    assert NEW in text and "kept note" in text
    assert b"Neil" not in past.read_bytes()  # rewritten to a fresh file: no free block keeps it
    with duckdb.connect(str(past), read_only=True) as con:
        assert con.execute("select content from marts.memory_atoms where atom_id = 'm1'").fetchone() == (NEW,)
        # The search index is rebuilt over the atoms as they are now.
        assert con.execute(
            "select count(*) from marts.memory_search where content = ?", [NEW]
        ).fetchone() == (1,)


def test_a_redacted_atom_leaves_a_past_snapshots_atoms(tmp_path):
    warehouse, past = tmp_path / "warehouse.duckdb", tmp_path / "past.duckdb"
    _warehouse(warehouse, "[redacted: r1]", redacted=[("acme", "m1")])
    _past(past)

    scrub_past_snapshot(past, warehouse)

    with duckdb.connect(str(past), read_only=True) as con:
        assert con.execute("select atom_id from marts.memory_atoms").fetchall() == [("n2",)]
        assert con.execute("select atom_id from marts.memory_search").fetchall() == [("n2",)]
    assert "Ann O" not in _text(past)


def test_a_past_snapshot_that_matches_the_log_is_left_as_it_is(tmp_path):
    warehouse, past = tmp_path / "warehouse.duckdb", tmp_path / "past.duckdb"
    _warehouse(warehouse, OLD)
    _past(past)
    before = past.read_bytes()

    assert scrub_past_snapshot(past, warehouse) is False
    assert past.read_bytes() == before


def test_a_file_in_the_past_snapshot_folder_that_cannot_be_scrubbed_is_deleted_not_left_behind(tmp_path):
    from dagster_project.serving.past_snapshots import scrub_past_snapshots
    from dagster_project.settings import HomePaths

    home = tmp_path / "home"
    (home / "as-of").mkdir(parents=True)
    _warehouse(home / "warehouse.duckdb", NEW)
    _past(home / "as-of" / "20261125T000000Z.duckdb")
    broken = home / "as-of" / "20261126T000000Z.duckdb"
    broken.write_bytes(b"not a database, but " + OLD.encode())

    assert scrub_past_snapshots(HomePaths(home)) == 2

    assert not broken.exists()
    assert "Ann O" not in _text(home / "as-of" / "20261125T000000Z.duckdb")


def test_a_past_snapshot_a_reader_holds_open_is_scrubbed_all_the_same(tmp_path):
    """The API keeps a read-only connection on the snapshot it serves, in its own process."""
    warehouse, past = tmp_path / "warehouse.duckdb", tmp_path / "past.duckdb"
    _warehouse(warehouse, NEW)
    _past(past)
    reader = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys; con = duckdb.connect(sys.argv[1], read_only=True); "
            "con.execute('select count(*) from marts.events').fetchall(); print('open', flush=True); "
            "sys.stdin.read()",
            str(past),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert reader.stdout.readline().strip() == "open"
        assert scrub_past_snapshot(past, warehouse) is True
    finally:
        reader.communicate("")
    assert "Ann O" not in _text(past)


def _with_cards_and_info(path: Path) -> None:
    _past(path)
    with duckdb.connect(str(path)) as con:
        con.execute("drop table marts.memory_cards")
        con.execute(
            "create table marts.memory_cards (org_id varchar, entity_type varchar, entity_id varchar, "
            "key_facts json, recent_activity json, decisions json, risks json, top_atoms json, etag varchar)"
        )
        for entity_id, content in (("c1", OLD), ("c2", "kept note")):
            shown = json.dumps([{"content": content}])
            con.execute(
                "insert into marts.memory_cards values ('acme', 'candidate', ?, '[]', ?, '[]', ?, ?, "
                "'\"' || md5('[]' || ? || '[]' || ? || ?) || '\"')",
                [entity_id, shown, shown, shown, shown, shown, shown],
            )
        con.execute("create table marts.snapshot_info (snapshot_version varchar)")
        con.execute("insert into marts.snapshot_info values ('20261125T000000Z')")


def _etags(path: Path) -> dict[str, str]:
    with duckdb.connect(str(path), read_only=True) as con:
        return dict(con.execute("select entity_id, etag from marts.memory_cards").fetchall())


def _version(path: Path) -> str:
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute("select snapshot_version from marts.snapshot_info").fetchone()[0]


def test_a_scrubbed_card_gets_a_new_etag_and_the_file_a_new_version(tmp_path):
    warehouse, past = tmp_path / "warehouse.duckdb", tmp_path / "past.duckdb"
    _warehouse(warehouse, NEW)
    _with_cards_and_info(past)
    before = _etags(past)

    scrub_past_snapshot(past, warehouse)

    after = _etags(past)
    assert after["c2"] == before["c2"]  # nothing it shows changed: a client's cached copy is still right
    assert after["c1"] != before["c1"]
    shown = json.dumps([{"content": NEW}])
    with duckdb.connect() as con:
        (rebuilt,) = con.execute(
            "select '\"' || md5('[]' || ? || '[]' || ? || ?) || '\"'", [shown] * 3
        ).fetchone()
    assert after["c1"] == rebuilt  # what a build of the scrubbed card would give
    assert _version(past) == "20261125T000000Z+s1"

    (tmp_path / "warehouse.duckdb").unlink()
    _warehouse(warehouse, "[redacted: r9]")
    scrub_past_snapshot(past, warehouse)
    assert _version(past) == "20261125T000000Z+s2"


def test_a_build_waiting_on_a_busy_home_gives_up_with_a_clear_message_and_leaves_nothing(tmp_path):
    from datetime import UTC, datetime

    import pytest
    from filelock import FileLock

    from dagster_project.commands.snapshot import HomeBusy, build_as_of_snapshot

    home = tmp_path / "home"
    home.mkdir()
    _warehouse(home / "warehouse.duckdb", NEW)
    when = datetime(2026, 10, 15, tzinfo=UTC)
    with FileLock(str(home / ".writer.lock")), pytest.raises(HomeBusy, match="busy"):
        build_as_of_snapshot(home, when, now=when, lock_timeout=0.2)
    assert sorted(p.name for p in home.iterdir()) == [".writer.lock", "as-of", "warehouse.duckdb"]
    assert list((home / "as-of").iterdir()) == []
