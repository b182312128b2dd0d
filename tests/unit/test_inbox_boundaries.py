"""The inbox is the inbox: no link brings a file in from elsewhere, a subfolder's file keeps its path,
and a gzip file that inflates far beyond its size is refused after a bounded read."""

from __future__ import annotations

import os
import tracemalloc
import zlib
from pathlib import Path

import pytest

from dagster_project.ingestion import ingest as ingest_module
from dagster_project.ingestion.files import GZIP_MAX_RATIO, GZIP_RATIO_FLOOR
from dagster_project.ingestion.ingest import ingest_paths
from dagster_project.ingestion.readers import list_inbox, scan_inbox
from tests.events_factory import event, write_jsonl

LONG_AGO = 10**9  # a modification time long before any test clock: the file has settled


def _settled(path: Path) -> Path:
    os.utime(path, (LONG_AGO, LONG_AGO), follow_symlinks=False)
    return path


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A folder next to the inbox with a perfectly valid event file the inbox must not reach."""
    folder = tmp_path / "outside"
    folder.mkdir()
    _settled(write_jsonl(folder / "secret.jsonl", [event("secret-1")]))
    return folder


def test_links_to_files_and_folders_outside_the_inbox_are_not_listed_and_are_reported(
    tmp_path: Path, outside: Path
):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    _settled(write_jsonl(inbox / "real.jsonl", [event("real-1")]))
    (inbox / "to-secret.jsonl").symlink_to(outside / "secret.jsonl")
    (inbox / "to-folder").symlink_to(outside, target_is_directory=True)
    (inbox / "to-real.jsonl").symlink_to(inbox / "real.jsonl")  # a link inside the inbox is not read either

    scan = scan_inbox(inbox)

    assert [p.name for p in scan.ready] == ["real.jsonl"]
    assert list_inbox(inbox) == scan.ready
    assert sorted(name for name, _ in scan.passed_over) == ["to-folder", "to-real.jsonl", "to-secret.jsonl"]
    assert all("symbolic link" in why for _, why in scan.passed_over)


def test_a_link_handed_to_the_ingest_is_not_read_and_the_run_goes_on(
    tmp_path: Path, outside: Path, warehouse, now
):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    link = inbox / "a-link.jsonl"  # e.g. a file swapped for a link after the inbox was listed
    link.symlink_to(outside / "secret.jsonl")
    real = write_jsonl(inbox / "b-real.jsonl", [event("real-1")])

    report = ingest_paths(warehouse, [link, real], now=now, inbox=inbox)

    assert [(f.file, f.accepted) for f in report.files] == [("b-real.jsonl", 1)]
    assert [name for name, _ in report.passed_over] == ["a-link.jsonl"]
    assert warehouse.execute("select list(event_id) from raw.events").fetchone()[0] == ["real-1"]
    assert warehouse.execute("select count(*) from raw.quarantine").fetchone()[0] == 0


def test_a_named_pipe_in_the_inbox_is_passed_over_without_waiting_for_a_writer(
    tmp_path: Path, warehouse, now
):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    pipe = inbox / "pipe.jsonl"
    os.mkfifo(pipe)

    report = ingest_paths(warehouse, [pipe], now=now, inbox=inbox)

    assert report.files == []
    assert [name for name, _ in report.passed_over] == ["pipe.jsonl"]


def test_files_in_subfolders_are_named_by_their_path_in_the_inbox(tmp_path: Path, warehouse, now):
    inbox = tmp_path / "inbox"
    for folder, ids in (("east", ["e-1", "e-2"]), ("west/deep", ["w-1"])):
        (inbox / folder).mkdir(parents=True)
        records = [event(i, entity_id=f"sig-{i}") for i in ids] + [b"{not json"]
        _settled(write_jsonl(inbox / folder / "export.jsonl", records))

    report = ingest_paths(warehouse, list_inbox(inbox), now=now, inbox=inbox)

    assert sorted((f.file, f.accepted, f.quarantined) for f in report.files) == [
        ("east/export.jsonl", 2, 1),
        ("west/deep/export.jsonl", 1, 1),
    ]
    assert warehouse.execute("select file from raw.ingest_ledger order by file").fetchall() == [
        ("east/export.jsonl",),
        ("west/deep/export.jsonl",),
    ]
    assert warehouse.execute(
        "select source_file, list(event_id order by event_id) from raw.events group by all order by 1"
    ).fetchall() == [("east/export.jsonl", ["e-1", "e-2"]), ("west/deep/export.jsonl", ["w-1"])]
    assert warehouse.execute("select file from raw.quarantine order by file").fetchall() == [
        ("east/export.jsonl",),
        ("west/deep/export.jsonl",),
    ]


def _gzip_of_newlines(path: Path, size: int) -> Path:
    """A gzip member of `size` newlines, written without holding them in memory."""
    deflate = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = b"\n" * (1 << 20)
    with path.open("wb") as out:
        for _ in range(size // len(block)):
            out.write(deflate.compress(block))
        out.write(deflate.flush())
    return path


def test_a_gzip_bomb_is_refused_after_a_bounded_read_and_duckdb_never_inflates_it(
    tmp_path: Path, warehouse, now, monkeypatch
):
    bomb = _gzip_of_newlines(tmp_path / "bomb.jsonl.gz", 4 * GZIP_RATIO_FLOOR)
    assert GZIP_MAX_RATIO * bomb.stat().st_size < 4 * GZIP_RATIO_FLOOR  # past both limits
    staged = []
    real_stage = ingest_module.stage_json_file
    monkeypatch.setattr(
        ingest_module, "stage_json_file", lambda *a, **kw: staged.append(a) or real_stage(*a, **kw)
    )

    tracemalloc.start()
    try:
        report = ingest_paths(warehouse, [bomb], now=now)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert [(f.status, dict(f.reasons)) for f in report.files] == [("unreadable", {"unreadable_file": 1})]
    detail = warehouse.execute("select detail from raw.quarantine").fetchone()[0]
    assert "decompression bomb" in detail
    assert staged == []
    assert peak < 2 * GZIP_RATIO_FLOOR + (16 << 20)  # what was inflated before the refusal, and little else


def test_a_gzip_file_within_the_ratio_limit_is_read_whole(tmp_path: Path, warehouse, now):
    # Many identical-but-for-id lines compress well; the floor lets a small file inflate freely.
    records = [event(f"id-{i}", entity_id=f"sig-{i}") for i in range(2000)]
    path = write_jsonl(tmp_path / "fine.jsonl.gz", records, gz=True)

    report = ingest_paths(warehouse, [path], now=now)

    assert [(f.status, f.accepted) for f in report.files] == [("ok", 2000)]


@pytest.mark.parametrize("swap", ["link", "removed"])
def test_a_file_swapped_for_a_link_or_removed_after_hashing_is_not_read_and_the_run_goes_on(
    tmp_path: Path, outside: Path, warehouse, now, monkeypatch, swap
):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    first = write_jsonl(inbox / "a-swapped.jsonl", [event("a-1")])
    second = write_jsonl(inbox / "b-real.jsonl", [event("b-1")])
    real = ingest_module._inbox_file_or_why

    def hash_then_swap(path: Path, name: str):
        info = real(path, name)
        if path == first:  # after the hash, before the read
            path.unlink()
            if swap == "link":
                path.symlink_to(outside / "secret.jsonl")
        return info

    monkeypatch.setattr(ingest_module, "_inbox_file_or_why", hash_then_swap)

    report = ingest_paths(warehouse, [first, second], now=now, inbox=inbox)

    assert [(f.file, f.status, f.accepted) for f in report.files] == [
        ("a-swapped.jsonl", "unreadable", 0),
        ("b-real.jsonl", "ok", 1),
    ]
    assert warehouse.execute("select list(event_id) from raw.events").fetchone()[0] == ["b-1"]
    assert warehouse.execute("select file, line, reason from raw.quarantine").fetchall() == [
        ("a-swapped.jsonl", 0, "unreadable_file")
    ]


def test_a_file_of_blank_lines_costs_memory_in_proportion_to_its_size_not_its_line_count(
    tmp_path: Path, warehouse, now
):
    size = 32 << 20
    path = tmp_path / "blank.jsonl"
    with path.open("wb") as out:  # records around a long run of blank and whitespace-only lines
        out.write(orjson_line(event("first")))
        for _ in range(size >> 20):
            out.write(b"\n" * (1 << 19) + b" \r\n\t\n" * (1 << 17))
        out.write(orjson_line(event("last")))

    tracemalloc.start()
    try:
        report = ingest_paths(warehouse, [path], now=now)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert [(f.lines, f.accepted) for f in report.files] == [(2, 2)]
    assert peak < 3 * path.stat().st_size  # the bytes and a copy; not a list slot per line


def orjson_line(record: dict) -> bytes:
    import orjson

    return orjson.dumps(record) + b"\n"


def test_a_path_gone_before_it_is_hashed_is_passed_over_and_the_run_goes_on(tmp_path: Path, warehouse, now):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    real = write_jsonl(inbox / "b-real.jsonl", [event("real-1")])

    report = ingest_paths(warehouse, [inbox / "a-gone.jsonl", real], now=now, inbox=inbox)

    assert [(f.file, f.accepted) for f in report.files] == [("b-real.jsonl", 1)]
    assert report.passed_over == [("a-gone.jsonl", "gone before it was read")]


def test_a_parquet_file_declaring_far_more_data_than_its_size_is_refused_as_a_bomb(
    tmp_path: Path, warehouse, now
):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from dagster_project.contract.events import ENVELOPE_FIELDS
    from tests.events_factory import tabular_row

    rows = [
        tabular_row(event(f"e{i}", payload={"source_type": "web", "owner": "a" * (1 << 20)}))
        for i in range(40)
    ]
    table = pa.table({name: pa.array([r[name] for r in rows], pa.string()) for name in ENVELOPE_FIELDS})
    path = tmp_path / "bomb.parquet"
    pq.write_table(table, path, compression="zstd", use_dictionary=False)
    assert GZIP_MAX_RATIO * path.stat().st_size < 40 << 20

    report = ingest_paths(warehouse, [path], now=now)

    assert [(f.status, dict(f.reasons)) for f in report.files] == [("unreadable", {"unreadable_file": 1})]
    assert "decompression bomb" in warehouse.execute("select detail from raw.quarantine").fetchone()[0]


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_a_table_too_large_for_duckdbs_memory_cap_is_unreadable_not_a_crash(
    tmp_path: Path, now, monkeypatch, fmt
):
    import random

    from dagster_project.warehouse.store import connect, ensure_raw_schema
    from tests.events_factory import write_csv, write_parquet

    monkeypatch.setenv("WORKSTREAM_DUCKDB_MEMORY", "64MB")
    rng = random.Random(7)  # incompressible: no bomb, just large
    records = [
        event(f"e{i}", payload={"source_type": "web", "owner": rng.randbytes(3 << 20).hex()})
        for i in range(6)
    ]
    path = (write_parquet if fmt == "parquet" else write_csv)(tmp_path / f"large.{fmt}", records)
    con = connect(tmp_path / "small.duckdb")
    ensure_raw_schema(con)
    try:
        report = ingest_paths(con, [path], now=now)
        detail = con.execute("select detail from raw.quarantine").fetchone()[0]
    finally:
        con.close()

    assert [(f.status, dict(f.reasons)) for f in report.files] == [("unreadable", {"unreadable_file": 1})]
    assert "memory cap" in detail
