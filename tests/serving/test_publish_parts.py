"""The publish writes the event log's changed rows only, and readers still see exactly the warehouse's rows.

The publish before the parts copied every mart, the event log included, whole: what it served was the
warehouse's `marts` rows at that moment. So "the same rows as before" is checked against the warehouse
itself after each of several drops, a redaction, removed rows and an as-of time that reveals more rows.
"""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from dagster_project.serving import reader
from dagster_project.serving.parts import pack, parts_dir
from dagster_project.serving.publish import publish_snapshot
from dagster_project.settings import HomePaths
from dagster_project.warehouse.store import connect, ensure_raw_schema
from tests.erasure_scan import hits_everywhere

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def warehouse(home: Path) -> tuple[HomePaths, duckdb.DuckDBPyConnection]:
    """A warehouse whose `marts.events` is a view over a log table with an as-of cut, like dbt's."""
    paths = HomePaths(home)
    paths.ensure()
    con = connect(paths.warehouse)
    ensure_raw_schema(con)
    con.execute(
        """create schema marts;
           create schema work;
           create table work.log (org_id varchar, event_id varchar, occurred_at timestamptz,
                                  payload json, source_file varchar);
           create table work.as_of (t timestamptz);
           create view marts.events as select l.* from work.log l, work.as_of a where l.occurred_at <= a.t;
           create table marts.win_loss (org_id varchar, pursuits bigint);"""
    )
    con.execute("insert into work.as_of values (?)", [T0 + timedelta(days=365)])
    return paths, con


def drop(
    con: duckdb.DuckDBPyConnection, name: str | None, rows: int, *, start: int, org: str = "acme"
) -> None:
    """`rows` events of one file (`name`; None for events that came without one)."""
    con.execute(
        """insert into work.log select ?, 'e' || (? + i), ?::timestamptz + to_minutes((? + i)::bigint),
                  json_object('note', 'text ' || (? + i)), ?
           from range(?) t(i)""",
        [org, start, T0, start, start, name, rows],
    )
    con.execute("delete from marts.win_loss")
    con.execute("insert into marts.win_loss select org_id, count(*) from work.log group by 1")


def import_months(con: duckdb.DuckDBPyConnection, *, start: datetime) -> None:
    """One imported file of 600 events `h0`…`h599`, one every six hours from `start`: five months."""
    con.execute(
        """insert into work.log select 'acme', 'h' || i, ?::timestamptz + to_hours(6 * i),
                  json_object('note', 'note ' || i), 'import.jsonl'
           from range(600) t(i)""",
        [start],
    )


def publish(con: duckdb.DuckDBPyConnection, paths: HomePaths, step: int, **kwargs):
    when = T0 + timedelta(hours=step)
    return publish_snapshot(con, paths, built_at=when, published_at=when, **kwargs)


def served(paths: HomePaths) -> dict[str, list[tuple]]:
    """Every served table's rows, sorted, through the one snapshot reader."""
    with reader.connect(paths.serving, scope=reader.SYSTEM) as con:
        tables = [
            t
            for (t,) in con.execute(
                "select table_name from information_schema.tables "
                "where table_schema = 'marts' and table_name <> 'snapshot_info'"
            ).fetchall()
        ]
        return {
            t: sorted(con.execute(f"select * from marts.{t}").fetchall(), key=repr) for t in sorted(tables)
        }


def in_warehouse(con: duckdb.DuckDBPyConnection) -> dict[str, list[tuple]]:
    tables = [
        t
        for (t,) in con.execute(
            "select table_name from information_schema.tables where table_schema = 'marts'"
        ).fetchall()
    ]
    return {t: sorted(con.execute(f"select * from marts.{t}").fetchall(), key=repr) for t in sorted(tables)}


def parquet_files(paths: HomePaths) -> dict[Path, int]:
    """Every Parquet file under the home with its row count."""
    return {p: pq.ParquetFile(p).metadata.num_rows for p in paths.home.rglob("*.parquet")}


def test_a_drop_on_a_published_log_writes_only_the_drop_s_rows_to_parquet(tmp_path):
    paths, con = warehouse(tmp_path / "home")
    try:
        for i, name in enumerate(["a.jsonl", "b.jsonl", "c.jsonl"]):
            drop(con, name, 400, start=i * 400)
        publish(con, paths, 1)
        before = parquet_files(paths)
        drop(con, "d.jsonl", 25, start=5000)
        result = publish(con, paths, 2)
        new = {p: n for p, n in parquet_files(paths).items() if p not in before}
        assert sum(new.values()) == 25
        assert result.events_written == 25 and result.events == 1225
        assert served(paths) == in_warehouse(con)
    finally:
        con.close()


def test_every_served_table_matches_the_warehouse_over_drops_a_redaction_removals_and_a_later_as_of(tmp_path):
    paths, con = warehouse(tmp_path / "home")
    try:
        con.execute("delete from work.as_of")
        con.execute("insert into work.as_of values (?)", [T0 + timedelta(hours=10)])
        steps = [
            lambda: drop(con, "a.jsonl", 300, start=0),
            lambda: drop(con, "b.jsonl", 300, start=300, org="globex"),
            lambda: drop(con, None, 40, start=900),  # events without a source file
            lambda: con.execute(
                "update work.log set payload = json_object('note', '[redacted]') where event_id = 'e10'"
            ),
            lambda: con.execute("delete from work.log where event_id in ('e301', 'e302')"),
            lambda: con.execute("update work.as_of set t = ?", [T0 + timedelta(days=30)]),
            lambda: drop(con, "a.jsonl", 5, start=2000),  # a file name seen before
        ]
        for step, change in enumerate(steps):
            change()
            publish(con, paths, step)
            assert served(paths) == in_warehouse(con), f"after step {step}"
    finally:
        con.close()


def test_a_redaction_leaves_the_erased_text_in_no_file_under_the_home(tmp_path):
    secret = "call me on 555-0199 zebra"
    paths, con = warehouse(tmp_path / "home")
    try:
        drop(con, "a.jsonl", 200, start=0)
        drop(con, "b.jsonl", 200, start=200)
        con.execute("update work.log set payload = json_object('note', ?) where event_id = 'e7'", [secret])
        publish(con, paths, 1)
        drop(con, "c.jsonl", 10, start=900)
        publish(con, paths, 2)  # the parts of step 1 are still read by the snapshot step 2 replaced
        assert hits_everywhere(paths.home, [secret])
        con.execute("update work.log set payload = json_object('note', '[redacted]') where event_id = 'e7'")
        paths.redaction_marker.touch()
        result = publish(con, paths, 3)
        assert result.events_written == 400  # the part that held the text (a and b), not c's
        con.close()
        assert hits_everywhere(paths.home, [secret]) == []
    finally:
        con.close()


def test_a_redaction_in_a_file_of_many_months_rewrites_only_the_part_that_held_the_text(tmp_path):
    secret = "ring 555-0142 about the kiwi"
    paths, con = warehouse(tmp_path / "home")
    try:
        import_months(con, start=T0)
        con.execute("update work.log set payload = json_object('note', ?) where event_id = 'h300'", [secret])
        publish(con, paths, 1, part_rows=150)
        parts = parquet_files(paths)
        holder = next(
            rows
            for path, rows in parts.items()
            if "h300" in pq.read_table(path, columns=["event_id"])["event_id"].to_pylist()
        )
        assert len(parts) > 2 and max(parts.values()) < 300  # cut by month, packed to about 150 rows
        con.execute("update work.log set payload = json_object('note', '[redacted]') where event_id = 'h300'")
        paths.redaction_marker.touch()
        result = publish(con, paths, 2, part_rows=150)
        assert result.events_written == holder  # that part alone, not the file's 600 rows
        assert served(paths) == in_warehouse(con)
        con.close()
        assert hits_everywhere(paths.home, [secret]) == []
    finally:
        con.close()


def test_parts_are_merged_before_there_are_more_than_the_limit(tmp_path):
    paths, con = warehouse(tmp_path / "home")
    try:
        counts = []
        for step in range(12):
            drop(con, f"f{step}.jsonl", 10 + step, start=step * 100)
            publish(con, paths, step, max_parts=4)
            with reader.connect(paths.serving, scope=reader.SYSTEM) as snap:
                counts.append(snap.execute("select count(distinct part) from publish.parts").fetchone()[0])
            assert served(paths) == in_warehouse(con)
        assert max(counts) <= 4
        assert len(list(parts_dir(paths).iterdir())) <= 8  # this snapshot's parts and the one before's
    finally:
        con.close()


def test_segments_are_packed_whole_into_parts_of_at_most_the_size_or_one_larger_segment():
    sizes = [("2026-01 a", 60), ("2026-02 a", 50), ("2026-03 a", 300), ("2026-04 a", 40), ("2026-05 a", 100)]
    assert pack(sizes, 150) == [0, 0, 1, 2, 2]
    assert pack(sizes[:1], 10) == [0]
    assert pack([], 150) == []


def test_merging_the_small_parts_leaves_the_full_ones_as_they_are(tmp_path):
    paths, con = warehouse(tmp_path / "home")
    try:
        import_months(con, start=T0 - timedelta(hours=6 * 600))
        publish(con, paths, 0, max_parts=4, part_rows=150)
        full = {p.name for p, rows in parquet_files(paths).items() if rows >= 75}
        assert len(full) >= 3
        for step in range(1, 12):
            drop(con, f"f{step}.jsonl", 10 + step, start=step * 100)
            publish(con, paths, step, max_parts=4, part_rows=150)
            listed = {p.name: rows for p, rows in parquet_files(paths).items()}
            assert full <= set(listed)  # never rewritten
            assert len([rows for name, rows in listed.items() if name not in full]) <= 8
            assert served(paths) == in_warehouse(con)
        with reader.connect(paths.serving, scope=reader.SYSTEM) as snap:
            small = snap.execute(
                "select count(*) from (select part from publish.parts group by part having sum(rows) < 75)"
            ).fetchone()[0]
        assert small <= 4
    finally:
        con.close()


def test_a_reader_of_the_replaced_snapshot_still_reads_its_events_after_the_next_publish(tmp_path):
    paths, con = warehouse(tmp_path / "home")
    try:
        drop(con, "a.jsonl", 50, start=0)
        publish(con, paths, 1)
        held = reader.open_snapshot(paths.serving, scope=reader.SYSTEM)
        try:
            con.execute("update work.log set payload = json_object('note', 'changed') where event_id = 'e3'")
            drop(con, "b.jsonl", 5, start=100)
            publish(con, paths, 2)
            rows = held.con.execute(
                "select count(*), count(*) filter (payload->>'note' = 'changed') from marts.events"
            ).fetchone()
        finally:
            held.close()
        assert rows == (50, 0)
    finally:
        con.close()


def test_a_moved_home_publishes_again_reusing_the_parts_it_carries(tmp_path):
    paths, con = warehouse(tmp_path / "home")
    drop(con, "a.jsonl", 100, start=0)
    publish(con, paths, 1)
    con.close()
    moved = tmp_path / "moved"
    shutil.copytree(paths.home, moved)
    shutil.rmtree(paths.home)
    paths = HomePaths(moved)
    con = connect(paths.warehouse)
    try:
        drop(con, "b.jsonl", 7, start=500)
        result = publish(con, paths, 2)
        assert result.events_written == 7
        assert served(paths) == in_warehouse(con)
    finally:
        con.close()


@pytest.mark.parametrize("leftover", ["events-00000099.parquet", ".events-00000100.parquet"])
def test_a_part_no_snapshot_lists_is_removed_and_never_named_again(tmp_path, leftover):
    paths, con = warehouse(tmp_path / "home")
    try:
        drop(con, "a.jsonl", 10, start=0)
        publish(con, paths, 1)
        (parts_dir(paths) / leftover).write_bytes(b"half-written by a process that died")
        drop(con, "b.jsonl", 10, start=100)
        publish(con, paths, 2)
        names = sorted(p.name for p in parts_dir(paths).iterdir())
        assert leftover not in names
        assert names[-1] > leftover.lstrip(".")
        assert served(paths) == in_warehouse(con)
    finally:
        con.close()


def test_a_renamed_column_of_the_log_writes_every_part_again_under_the_new_name(tmp_path):
    paths, con = warehouse(tmp_path / "home")
    try:
        drop(con, "a.jsonl", 30, start=0)
        publish(con, paths, 1)
        # Same values, another name: the rows' hashes alone would not see it.
        con.execute(
            "create or replace view marts.events as select l.org_id, l.event_id, l.occurred_at, "
            "l.payload as body, l.source_file from work.log l, work.as_of a where l.occurred_at <= a.t"
        )
        drop(con, "b.jsonl", 3, start=100)
        result = publish(con, paths, 2)
        assert result.events_written == 33
        assert served(paths) == in_warehouse(con)
    finally:
        con.close()
