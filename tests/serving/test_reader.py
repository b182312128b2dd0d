"""The snapshot reader on small hand-made snapshots: typed errors, identity, info and scopes."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest

from dagster_project.serving import reader
from dagster_project.serving.reader import OrgScope

BUILT_AT = datetime(2026, 11, 1, tzinfo=UTC)
PUBLISHED_AT = datetime(2026, 11, 1, 0, 5, tzinfo=UTC)
NO_WAIT = (0.0, 0.0)


def publish(home: Path, *, version: str = "v1", extra_org: str = "o2") -> Path:
    """A snapshot with two orgs' rows, a mart without org_id and an info row, swapped in like a publish."""
    home.mkdir(parents=True, exist_ok=True)
    tmp = home / f".serving-{version}.duckdb"
    tmp.unlink(missing_ok=True)
    with duckdb.connect(str(tmp)) as con:
        con.execute(
            """create schema marts;
               create table marts.snapshot_info (
                   snapshot_version varchar, built_at timestamptz, published_at timestamptz, events bigint);
               create table marts.deals (org_id varchar, deal_id varchar, value double);
               create table marts.org_free_secret (note varchar);"""
        )
        con.execute("insert into marts.snapshot_info values (?, ?, ?, 3)", [version, BUILT_AT, PUBLISHED_AT])
        con.executemany(
            "insert into marts.deals values (?, ?, ?)",
            [("o1", "d1", 1.0), (extra_org, "d2", 2.0), (None, "d3", 3.0)],
        )
        con.execute("insert into marts.org_free_secret values ('every org at once')")
    os.replace(tmp, home / "serving.duckdb")
    return home / "serving.duckdb"


def test_a_missing_snapshot_is_reported_as_missing(tmp_path: Path) -> None:
    with pytest.raises(reader.SnapshotMissing):
        reader.fetch(tmp_path / "serving.duckdb", "select 1", scope=reader.SYSTEM, retry_delays=NO_WAIT)


def test_a_file_that_is_not_a_database_is_retried_then_reported_unavailable(tmp_path: Path) -> None:
    path = tmp_path / "serving.duckdb"
    path.write_bytes(b"not a database" * 100)
    with pytest.raises(reader.SnapshotUnavailable):
        reader.fetch(path, "select 1", scope=reader.SYSTEM, retry_delays=NO_WAIT)


def test_a_missing_table_is_reported_as_incompatible(tmp_path: Path) -> None:
    path = publish(tmp_path)
    with pytest.raises(reader.SnapshotIncompatible, match="no_such_mart"):
        reader.fetch(path, "select * from marts.no_such_mart", scope=reader.SYSTEM, retry_delays=NO_WAIT)


def test_the_system_scope_reads_every_org(tmp_path: Path) -> None:
    path = publish(tmp_path)
    frame = reader.fetch(path, "select deal_id from marts.deals order by deal_id", scope=reader.SYSTEM)
    assert frame["deal_id"].to_list() == ["d1", "d2", "d3"]


def test_an_org_scope_reads_only_its_orgs_rows(tmp_path: Path) -> None:
    path = publish(tmp_path)
    frame = reader.fetch(path, "select org_id, deal_id from marts.deals", scope=OrgScope(["o1"]))
    assert frame.rows() == [("o1", "d1")]


def test_an_org_scope_hides_a_mart_without_org_id_unless_it_is_known_to_be_org_free(tmp_path: Path) -> None:
    path = publish(tmp_path)
    scope = OrgScope(["o1"])
    with pytest.raises(reader.SnapshotIncompatible):
        reader.fetch(path, "select * from marts.org_free_secret", scope=scope)
    info = reader.fetch(path, "select snapshot_version from marts.snapshot_info", scope=scope)
    assert info["snapshot_version"].to_list() == ["v1"]


def test_an_org_id_with_a_quote_is_matched_as_text_not_read_as_sql(tmp_path: Path) -> None:
    hostile = "o1') or (1=1"
    path = publish(tmp_path, extra_org=hostile)
    frame = reader.fetch(path, "select deal_id from marts.deals", scope=OrgScope([hostile]))
    assert frame["deal_id"].to_list() == ["d2"]


def test_an_org_scope_needs_at_least_one_org_and_takes_a_bare_string_as_one_org() -> None:
    with pytest.raises(ValueError):
        OrgScope([])
    with pytest.raises(ValueError):
        OrgScope([""])
    assert OrgScope("acme").org_ids == frozenset({"acme"})


UNSCOPED_CALLS = {
    "fetch": lambda path, **scope: reader.fetch(path, "select count(*) as n from marts.deals", **scope),
    "run": lambda path, **scope: reader.run(path, lambda con: con.execute("select 1").fetchone(), **scope),
    "connect": lambda path, **scope: reader.connect(path, **scope).__enter__(),
    "open_snapshot": lambda path, **scope: reader.open_snapshot(path, **scope).close(),
}


@pytest.mark.parametrize("call", UNSCOPED_CALLS.values(), ids=UNSCOPED_CALLS.keys())
def test_a_read_that_names_no_scope_is_refused_at_the_call_instead_of_reading_every_org(
    tmp_path: Path, call
) -> None:
    path = publish(tmp_path)
    with pytest.raises(TypeError, match="scope"):
        call(path)


@pytest.mark.parametrize("not_a_scope", [None, "o1", {"o1"}, ["o1"]], ids=["none", "org-id", "set", "list"])
@pytest.mark.parametrize("call", UNSCOPED_CALLS.values(), ids=UNSCOPED_CALLS.keys())
def test_a_read_whose_scope_is_not_a_scope_is_refused_as_unscoped_before_the_file_is_opened(
    tmp_path: Path, call, not_a_scope: object
) -> None:
    # No file at the path: the refusal comes before any open, not as a missing snapshot.
    with pytest.raises(reader.UnscopedRead, match="scope=OrgScope"):
        call(tmp_path / "serving.duckdb", scope=not_a_scope)


def test_cursors_of_an_open_snapshot_keep_its_scope_and_read_in_utc(tmp_path: Path) -> None:
    path = publish(tmp_path)
    for scope, expected in ((reader.SYSTEM, 3), (OrgScope(["o1"]), 1)):
        snapshot = reader.open_snapshot(path, scope=scope)
        try:
            cur = snapshot.cursor()
            assert cur.execute("select count(*) from marts.deals").fetchone()[0] == expected
            assert cur.execute("select current_setting('TimeZone')").fetchone()[0] in ("UTC", "Etc/UTC")
        finally:
            snapshot.close()


def test_the_info_names_the_version_and_the_time_the_data_is_as_of(tmp_path: Path) -> None:
    path = publish(tmp_path)
    snapshot = reader.open_snapshot(path, scope=reader.SYSTEM)
    try:
        info = snapshot.info()
    finally:
        snapshot.close()
    assert info is not None
    assert (info.snapshot_version, info.data_as_of, info.published_at) == ("v1", BUILT_AT, PUBLISHED_AT)


def test_an_open_snapshot_keeps_reading_its_file_after_a_new_publish(tmp_path: Path) -> None:
    path = publish(tmp_path, version="v1")
    first_token = reader.snapshot_token(path)
    snapshot = reader.open_snapshot(path, scope=reader.SYSTEM)
    try:
        publish(tmp_path, version="v2")
        assert snapshot.info().snapshot_version == "v1"
        assert snapshot.token == first_token
    finally:
        snapshot.close()
    assert reader.snapshot_token(path) != first_token
    with reader.connect(path, scope=reader.SYSTEM) as con:
        assert reader.read_info(con).snapshot_version == "v2"


def test_search_under_an_org_scope_finds_its_org_and_nothing_of_another(tmp_path: Path) -> None:
    from dagster_project.memory import search as memory
    from tests.api.test_api import A, B
    from tests.api.test_api import publish as publish_with_memory

    publish_with_memory(tmp_path)
    path = tmp_path / "serving.duckdb"

    def hits(scope: reader.Scope, org: str) -> list[str]:
        def work(con: duckdb.DuckDBPyConnection) -> list[str]:
            memory.load_fts(con)
            return [h.atom_id for h in memory.search(con, org, "pricing")]

        return reader.run(path, work, scope=scope)

    assert hits(OrgScope([A]), A) == hits(reader.SYSTEM, A) != []
    assert hits(reader.SYSTEM, B) != []
    assert hits(OrgScope([A]), B) == []


def test_an_org_scope_lists_only_the_words_of_its_orgs_memory(tmp_path: Path) -> None:
    from dagster_project.memory.search import FTS_SCHEMA
    from tests.api.test_api import A
    from tests.api.test_api import publish as publish_with_memory

    publish_with_memory(tmp_path)
    path = tmp_path / "serving.duckdb"
    sql = f"select term from {FTS_SCHEMA}.dict where term = 'globex'"  # a word only the other org wrote
    assert reader.fetch(path, sql, scope=reader.SYSTEM).height == 1
    assert reader.fetch(path, sql, scope=OrgScope([A])).height == 0
    assert (
        reader.fetch(path, f"select count(*) as n from {FTS_SCHEMA}.dict", scope=OrgScope([A]))["n"].item()
        > 0
    )


def test_the_marts_a_statement_names_are_found_in_any_case_spacing_or_quoting() -> None:
    named = reader.marts_named('select * from marts.deals d join MARTS . "Odd ""Name""" o using (org_id)')
    assert named == reader.Marts(frozenset({"deals", 'odd "name"'}), search_index=False)
    # The search index's schema is named after the mart, not a `marts.` reference.
    assert reader.marts_named("select * from fts_marts_memory_search.dict") == reader.Marts(frozenset(), True)


def test_a_one_statement_org_read_sees_every_mart_it_names_and_still_not_an_unscoped_one(
    tmp_path: Path,
) -> None:
    path = publish(tmp_path)
    scope = OrgScope(["o1"])
    sql = (
        "select d.deal_id, i.snapshot_version from marts.deals d "
        "cross join (select snapshot_version from MARTS.Snapshot_Info) i"
    )
    assert reader.fetch(path, sql, scope=scope).rows() == [("d1", "v1")]
    with pytest.raises(reader.SnapshotIncompatible):
        reader.fetch(path, "select count(*) from marts.deals, marts.org_free_secret", scope=scope)


def test_an_org_scope_sees_the_marts_of_the_snapshot_published_since_its_last_open(tmp_path: Path) -> None:
    path = publish(tmp_path, version="v1")
    scope = OrgScope(["o1"])
    assert reader.fetch(path, "select deal_id from marts.deals", scope=scope).rows() == [("d1",)]
    # A new publish whose `deals` lost its org_id and gained a mart: what the reader knew of v1 is not reused.
    tmp = tmp_path / ".next.duckdb"
    with duckdb.connect(str(tmp)) as con:
        con.execute(
            """create schema marts;
               create table marts.deals (deal_id varchar);
               create table marts.wins (org_id varchar, win_id varchar);
               insert into marts.deals values ('every org');
               insert into marts.wins values ('o1', 'w1'), ('o2', 'w2');"""
        )
    os.replace(tmp, path)
    with pytest.raises(reader.SnapshotIncompatible):
        reader.fetch(path, "select deal_id from marts.deals", scope=scope)
    assert reader.fetch(path, "select win_id from marts.wins", scope=scope).rows() == [("w1",)]


def _counting_opens(monkeypatch: pytest.MonkeyPatch) -> list[reader.Scope]:
    """The scope of every open of a snapshot file from now on."""
    opened: list[reader.Scope] = []
    real = reader.open_snapshot

    def counted(path, *, scope, **kwargs):
        opened.append(scope)
        return real(path, scope=scope, **kwargs)

    monkeypatch.setattr(reader, "open_snapshot", counted)
    return opened


def test_reads_in_a_reusing_block_open_the_file_once_per_scope_and_close_it_at_the_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = publish(tmp_path)
    opened = _counting_opens(monkeypatch)
    o1 = OrgScope(["o1"])
    with reader.reusing_opens():
        assert reader.fetch(path, "select deal_id from marts.deals", scope=o1).rows() == [("d1",)]
        # A second read of the same scope names another mart: the block's open gains its view.
        assert reader.fetch(path, "select snapshot_version from marts.snapshot_info", scope=o1).rows() == [
            ("v1",)
        ]
        with reader.connect(path, scope=o1) as con:
            held = con
            assert con.execute("select count(*) from marts.deals").fetchone() == (1,)
        assert (
            reader.fetch(path, "select count(*) as n from marts.deals", scope=reader.SYSTEM)["n"].item() == 3
        )
        assert (
            reader.fetch(path, "select count(*) as n from marts.deals", scope=OrgScope(["o2"]))["n"].item()
            == 1
        )
        # Still a scope: a mart without org_id stays out of the org's open, however it was reached.
        with pytest.raises(reader.SnapshotIncompatible):
            reader.fetch(path, "select * from marts.org_free_secret", scope=o1)
    assert opened == [o1, reader.SYSTEM, OrgScope(["o2"])]
    with pytest.raises(duckdb.ConnectionException):
        held.execute("select 1")
    # Outside a block every read opens the file again.
    reader.fetch(path, "select 1", scope=o1)
    reader.fetch(path, "select 1", scope=o1)
    assert opened[3:] == [o1, o1]


def test_the_reads_of_a_block_see_one_snapshot_and_the_next_block_sees_the_new_publish(
    tmp_path: Path,
) -> None:
    path = publish(tmp_path, version="v1")
    sql = "select snapshot_version from marts.snapshot_info"
    with reader.reusing_opens():
        assert reader.fetch(path, sql, scope=reader.SYSTEM).item() == "v1"
        publish(tmp_path, version="v2")
        assert reader.fetch(path, sql, scope=reader.SYSTEM).item() == "v1"
    with reader.reusing_opens():
        assert reader.fetch(path, sql, scope=reader.SYSTEM).item() == "v2"


def test_a_read_failing_with_an_io_error_in_a_block_is_retried_on_a_fresh_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = publish(tmp_path)
    opened = _counting_opens(monkeypatch)
    seen: list[duckdb.DuckDBPyConnection] = []

    def work(con: duckdb.DuckDBPyConnection) -> int:
        seen.append(con)
        if len(seen) == 1:
            raise duckdb.IOException("the file went away under the read")
        return con.execute("select count(*) from marts.deals").fetchone()[0]

    with reader.reusing_opens():
        assert reader.run(path, work, scope=reader.SYSTEM, retry_delays=NO_WAIT) == 3
        assert len(opened) == 2 and seen[0] is not seen[1]
        with pytest.raises(duckdb.ConnectionException):
            seen[0].execute("select 1")
        # The fresh open is the block's from then on.
        reader.fetch(path, "select 1", scope=reader.SYSTEM)
        assert len(opened) == 2


def test_a_view_that_fails_to_appear_leaves_the_blocks_open_usable_and_is_tried_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = publish(tmp_path)
    o1 = OrgScope(["o1"])
    real = reader._scoped_view
    broken = {"snapshot_info"}

    def scoped_view(table: str, **kwargs) -> str | None:
        body = real(table, **kwargs)
        return "select * from no_such_table" if table in broken else body

    monkeypatch.setattr(reader, "_scoped_view", scoped_view)
    info = "select snapshot_version from marts.snapshot_info"
    with reader.reusing_opens():
        assert reader.fetch(path, "select deal_id from marts.deals", scope=o1).rows() == [("d1",)]
        with pytest.raises(duckdb.Error):
            reader.fetch(path, info, scope=o1)
        # Not stuck in the failed transaction, and the view is not taken for made.
        assert reader.fetch(path, "select deal_id from marts.deals", scope=o1).rows() == [("d1",)]
        broken.clear()
        assert reader.fetch(path, info, scope=o1).item() == "v1"
