"""The fast ingest paths (DuckDB's JSON reader, tabular frames) judge records exactly like the precise path."""

from __future__ import annotations

from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dagster_project.contract.events import ENVELOPE_FIELDS, Reason
from dagster_project.ingestion import parsing
from dagster_project.ingestion.ingest import ingest_file
from dagster_project.warehouse.store import connect, ensure_raw_schema
from tests.events_factory import event, tabular_row, write_csv

QUARANTINE = "select line, reason, detail, raw, org_id, event_id from raw.quarantine order by line"
EVENTS = (
    "select org_id, event_id, occurred_at, event_name, entity_type, entity_id, actor, payload::varchar, "
    "content_hash, source_line from raw.events order by source_line"
)
LEDGER = "select lines, accepted, duplicates, quarantined, org_id, status from raw.ingest_ledger"


def _line(record) -> bytes:
    return record if isinstance(record, bytes) else orjson.dumps(record)


# Records a line-based reader and DuckDB's reader might split or number differently.
TRICKY_LINES = [
    _line(event("ok-1")),
    b"",
    b"   \t",
    b"\x1c\x1d",  # whitespace to str.strip(), not to bytes.strip(): not a record
    "\u00a0\u3000".encode(),  # Unicode-only whitespace: not a record
    b"{not json",
    b"[1, 2, 3]",
    b'[{"event_id": "in-a-list"}]',
    b'"just a string"',
    b"12",
    b"null",
    b"{}",
    _line(event("two-1")) + _line(event("two-2")),  # two objects on one line
    _line(event("two-3")) + b" " + _line(event("two-4")),
    _line(event("enc-1", payload={"source_type": "email", "snippet": "x"})).replace(b'"x"', b'"caf\xe9"'),
    _line({**event("nulls"), "actor": None, "payload": None}),
    _line({k: None for k in ENVELOPE_FIELDS}),
    _line({"csv_row": ["a", "b"]}),
    _line({**event("with-csv-row"), "csv_row": None}),
    _line(event("esc-\u00e9\\n", payload={"source_type": "web", "snippet": 'tab\there \u2028 "q"'})),
    _line(event("num-id", entity_id=7)),
    _line(event("ok-1")),  # duplicate of line 1
    _line(event("ok-1", actor="someone-else")),  # conflict with line 1
    b"  " + _line(event("padded")) + b"  \r",
    _line(event("ok-2")),
]


def _ingest(path: Path, tmp_path: Path, now, name: str) -> tuple[list, list, tuple]:
    con = connect(tmp_path / f"{name}.duckdb")
    ensure_raw_schema(con)
    try:
        ingest_file(con, path, now=now)
        return (
            con.execute(QUARANTINE).fetchall(),
            con.execute(EVENTS).fetchall(),
            con.execute(LEDGER).fetchone(),
        )
    finally:
        con.close()


@pytest.mark.parametrize("name", ["tricky.jsonl", "tricky.jsonl.gz"])
def test_duckdb_reader_matches_precise_path(tmp_path: Path, now, monkeypatch, name):
    import gzip

    data = b"\n".join(TRICKY_LINES) + b"\n"
    path = tmp_path / name
    path.write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
    fast = _ingest(path, tmp_path, now, "fast")
    # An empty DuckDB read never matches Python's record count: every record takes the precise path.
    monkeypatch.setattr(parsing, "_JSON_FILE_SQL", parsing._JSON_FILE_SQL + " limit 0")
    precise = _ingest(path, tmp_path, now, "precise")
    assert fast == precise
    quarantine, events, ledger = fast
    assert ledger[0] == len([line for line in TRICKY_LINES if line.decode("utf-8", "replace").strip()])
    assert [e[1] for e in events] == ["ok-1", "with-csv-row", "esc-\u00e9\\n", "padded", "ok-2"]
    reasons = {line: reason for line, reason, *_ in quarantine}
    assert reasons[2] == Reason.BAD_JSON and reasons[11] == Reason.BAD_ENCODING
    assert reasons[14] == Reason.MALFORMED_ROW and reasons[13] == Reason.MISSING_FIELD
    assert reasons[19] == Reason.CONFLICTING_DUPLICATE


@pytest.mark.parametrize("name", ["tricky.jsonl", "tricky.jsonl.gz"])
@pytest.mark.parametrize("read_chunk", [8 << 20, 40], ids=["one_piece", "small_pieces"])
def test_a_large_json_lines_file_cut_into_batches_is_judged_like_one_batch(
    tmp_path: Path, now, monkeypatch, name, read_chunk
):
    """Line numbers, raw text, duplicates and conflicts, and lenient JSON found by Python, are the
    file's whether it is one batch or cut into batches (each read by DuckDB from a file of its own)."""
    import gzip
    import os
    import subprocess
    import sys
    import tempfile

    from dagster_project.ingestion import batches, read_jsonl

    lines = [*TRICKY_LINES, _line(event("comma"))[:-1] + b",}", _line(event("nan")).replace(b"0.5", b"NaN")]
    lines += [_line(event(f"late-{i}")) for i in range(6)] + [_line(event("ok-2", actor="late"))]
    data = b"\n".join(lines) + b"\n"
    path = tmp_path / name
    path.write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
    whole = _ingest(path, tmp_path, now, "whole")
    monkeypatch.setattr(read_jsonl, "WHOLE_FILE_BYTES", 0)
    monkeypatch.setattr(read_jsonl, "_READ_CHUNK", read_chunk)
    monkeypatch.setattr(batches, "BATCH_RECORDS", 4)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    # a killed ingest's batches are removed by the next one; a living process's are left alone
    ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True)
    left = scratch / f"workstream-jsonl-{int(ended.stdout)}-x1"
    living = scratch / f"workstream-jsonl-{os.getppid()}-x2"
    for folder in (left, living):
        folder.mkdir()
        (folder / "batch-1.jsonl").write_bytes(data)
    seen: list[int] = []
    con = connect(tmp_path / "cut.duckdb")
    ensure_raw_schema(con)
    ingest_file(con, path, now=now, progress=lambda _name, n: seen.append(n))
    cut = (con.execute(QUARANTINE).fetchall(), con.execute(EVENTS).fetchall(), con.execute(LEDGER).fetchone())
    con.close()
    assert cut == whole
    assert list(scratch.iterdir()) == [living]  # each batch's file is gone, and the killed ingest's
    assert len(seen) > 5 and sum(seen) == whole[2][0]
    reasons = {line: reason for line, reason, *_ in whole[0]}
    # the conflict at the end refers to a record judged batches earlier
    assert reasons[whole[2][0]] == Reason.CONFLICTING_DUPLICATE
    tricky = len([line for line in TRICKY_LINES if line.decode("utf-8", "replace").strip()])
    assert (reasons[tricky + 1], reasons[tricky + 2]) == (Reason.BAD_JSON, Reason.BAD_JSON)


@pytest.mark.parametrize("name", ["spaced.jsonl", "spaced.jsonl.gz"])
def test_a_file_mostly_of_blank_lines_is_judged_like_the_same_records_without_them(tmp_path: Path, now, name):
    import gzip

    blanks = b"\n" * 200 + b" \t\r\n" * 50 + b"\x0b\x0c\n\x1c\x1f\n"  # short lines, none a record
    lines = [*TRICKY_LINES, _line(event("comma"))[:-1] + b",}", _line(event("nan")).replace(b"0.5", b"NaN")]
    spaced = blanks + blanks.join(lines) + blanks
    tight = b"\n".join(line for line in lines if line.decode("utf-8", "replace").strip())
    assert spaced.count(b"\n") > len(spaced) // 16  # the reader collapses the blank runs first
    path, plain = tmp_path / name, tmp_path / f"tight-{name}"
    path.write_bytes(gzip.compress(spaced) if name.endswith(".gz") else spaced)
    plain.write_bytes(gzip.compress(tight) if name.endswith(".gz") else tight)
    assert _ingest(path, tmp_path, now, "spaced") == _ingest(plain, tmp_path, now, "tight")


def test_line_numbers_survive_many_bad_lines(tmp_path: Path, now):
    lines = []
    for i in range(3000):
        lines.append(_line(event(f"e{i}")))
        if i % 7 == 0:
            lines.append(b"{broken")
        if i % 11 == 0:
            lines.append(b"   ")
    path = tmp_path / "many.jsonl"
    path.write_bytes(b"\n".join(lines))  # no newline after the last record
    quarantine, events, ledger = _ingest(path, tmp_path, now, "many")
    assert ledger[:4] == (3000 + 429, 3000, 0, 429)
    record_of = {}
    number = 0
    for line in lines:
        if line.strip():
            number += 1
            record_of[number] = line
    assert all(record_of[line] == b"{broken" for line, *_ in quarantine)
    assert all(orjson.loads(record_of[e[-1]])["event_id"] == e[1] for e in events)


def test_csv_slow_reader_keeps_every_row(tmp_path: Path, now):
    path = write_csv(tmp_path / "a.csv", [event("a"), event("b", actor=None), event("c")])
    text = path.read_bytes().splitlines(keepends=True)
    ragged = b"only,three,fields\n"
    bad_bytes = text[3].replace(b"acme,", b"acme,", 1).replace(b"ann@", b"\xe9nn@")
    path.write_bytes(b"".join([text[0], text[1], ragged, text[2], bad_bytes]))
    quarantine, events, ledger = _ingest(path, tmp_path, now, "csv")
    assert ledger[:4] == (4, 2, 0, 2)
    assert [(q[0], q[1]) for q in quarantine] == [(2, Reason.MALFORMED_ROW), (4, Reason.BAD_ENCODING)]
    assert quarantine[0][3] == '{"csv_row":["only","three","fields"]}'
    assert [(e[1], e[6], e[-1]) for e in events] == [("a", "ann@acme.test", 1), ("b", None, 3)]


def test_parquet_non_string_columns_are_the_wrong_type_as_in_json(tmp_path: Path, now):
    """Parquet follows the JSON typing rules: an int64 event_id is a number, not the text "42"."""
    record = event("p1")
    columns = {name: pa.array([record[name]], pa.string()) for name in ENVELOPE_FIELDS if name != "payload"}
    columns["payload"] = pa.array([orjson.dumps(record["payload"]).decode()])
    columns["event_id"] = pa.array([42], pa.int64())
    path = tmp_path / "a.parquet"
    pq.write_table(pa.table(columns), path)
    quarantine, events, ledger = _ingest(path, tmp_path, now, "parquet")
    assert ledger[:4] == (1, 0, 0, 1)
    assert events == [] and [(q[0], q[1]) for q in quarantine] == [(1, Reason.WRONG_TYPE)]


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
@pytest.mark.parametrize(
    ("count", "sizes"), [(11, [8, 3]), (9, [9])], ids=["separate_tail", "short_tail_merged"]
)
def test_batches_keep_line_numbers_and_duplicates_across_them(
    tmp_path: Path, warehouse, now, monkeypatch: pytest.MonkeyPatch, fmt: str, count: int, sizes: list[int]
) -> None:
    """A file read in several batches is judged like one: numbering, duplicates and conflicts span them."""
    from dagster_project.ingestion import batches
    from tests.events_factory import write_parquet

    monkeypatch.setattr(batches, "BATCH_RECORDS", 8)  # a tail under 2 records joins the batch before
    records = [event(f"e{i}") for i in range(1, count + 1)]
    records[1] = event("k1")  # record 2
    records[5] = event("k1")  # record 6: identical, a duplicate
    records[count - 2] = event("k1", payload={"source_type": "web"})  # a conflict, in the last batch
    records[count - 1] = event("bad", org_id="Not An Org")  # invalid, in the last batch
    path = (write_csv if fmt == "csv" else write_parquet)(tmp_path / f"a.{fmt}", records)
    con = warehouse
    seen: list[int] = []
    result = ingest_file(con, path, now=now, progress=lambda _name, n: seen.append(n))
    assert seen == sizes
    assert (result.lines, result.accepted, result.duplicates, result.quarantined) == (count, count - 3, 1, 2)
    assert con.execute("select line, reason from raw.quarantine order by line").fetchall() == [
        (count - 1, Reason.CONFLICTING_DUPLICATE),
        (count, Reason.BAD_ORG_ID),
    ]
    # the reference is line 2 of this file, whether it was judged in an earlier batch or in this one
    (detail,) = con.execute("select detail from raw.quarantine where line = ?", [count - 1]).fetchone()
    assert detail.endswith("(first seen at line 2)")
    stored = con.execute("select event_id, source_line from raw.events order by source_line").fetchall()
    assert stored == [(r["event_id"], i) for i, r in enumerate(records[: count - 2], start=1) if i != 6]


def test_parquet_damaged_part_way_is_quarantined_whole(
    tmp_path: Path, warehouse, now, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A damaged page after the first batch was stored: the file rolls back and is quarantined as one."""
    from dagster_project.ingestion import batches
    from tests.events_factory import write_parquet

    monkeypatch.setattr(batches, "BATCH_RECORDS", 4)
    path = write_parquet(tmp_path / "a.parquet", [event(f"e{i}") for i in range(10)])
    rows = pq.read_table(path)
    pq.write_table(rows, path, row_group_size=5, compression="none")
    offset = pq.ParquetFile(path).metadata.row_group(1).column(0).data_page_offset
    damaged = bytearray(path.read_bytes())
    damaged[offset : offset + 40] = b"\xff" * 40
    path.write_bytes(bytes(damaged))
    result = ingest_file(warehouse, path, now=now)
    assert (result.status, result.lines, result.accepted) == ("unreadable", 0, 0)
    assert warehouse.execute("select count(*) from raw.events").fetchone() == (0,)
    assert warehouse.execute("select line, reason from raw.quarantine").fetchall() == [
        (0, Reason.UNREADABLE_FILE)
    ]
    assert warehouse.execute("select lines, status from raw.ingest_ledger").fetchall() == [(0, "unreadable")]


def test_parquet_rows_are_judged_like_csv_rows(tmp_path: Path, now):
    """DuckDB reads Parquet rows itself; verdicts, line numbers and raw text match the CSV reader's."""
    import csv as csv_module

    records = [
        event("p1"),
        event("p2", payload={"source_type": "web"}),
        event("bad-org", org_id="Not An Org"),
        event("p1"),  # identical: a duplicate
        event("p2", actor="someone-else"),  # a conflict
        event("p3", actor=None),
    ]
    rows = [["" if r[n] is None else r[n] for n in ENVELOPE_FIELDS] for r in map(tabular_row, records)]
    # payload strings DuckDB's parser takes but JSON does not, and one that is no JSON at all
    for event_id, payload in [
        ("lenient-1", '{"source_type": "email",}'),
        ("lenient-2", '{"source_type": "email", "urgency": NaN}'),
        ("not-json", "{nope"),
    ]:
        rows.append([event_id, *rows[0][1:-1], payload])
    csv_path, parquet_path = tmp_path / "a.csv", tmp_path / "a.parquet"
    with csv_path.open("w", newline="") as handle:
        csv_module.writer(handle).writerows([list(ENVELOPE_FIELDS), *rows])
    columns = {
        n: pa.array([row[i] or None for row in rows], pa.string()) for i, n in enumerate(ENVELOPE_FIELDS)
    }
    pq.write_table(pa.table(columns), parquet_path)

    q_csv, e_csv, l_csv = _ingest(csv_path, tmp_path, now, "csv")
    q_pq, e_pq, l_pq = _ingest(parquet_path, tmp_path, now, "parquet")
    assert l_pq == l_csv and l_pq[:4] == (9, 3, 1, 5)
    assert e_pq == e_csv
    assert [q[:3] + q[4:] for q in q_pq] == [q[:3] + q[4:] for q in q_csv]
    assert [(q[0], q[1]) for q in q_pq] == [
        (3, Reason.BAD_ORG_ID),
        (5, Reason.CONFLICTING_DUPLICATE),
        (7, Reason.BAD_JSON),
        (8, Reason.BAD_JSON),
        (9, Reason.BAD_JSON),
    ]
    # the raw text is the row's columns as a JSON object, payload still a string
    for q_parquet, q_text in zip(q_pq, q_csv, strict=True):
        assert orjson.loads(q_parquet[3]) == orjson.loads(q_text[3])
        assert list(orjson.loads(q_parquet[3])) == list(ENVELOPE_FIELDS)


def test_parquet_nested_column_is_unreadable(tmp_path: Path, now):
    record = event("p1")
    columns = {name: pa.array([record[name]], pa.string()) for name in ENVELOPE_FIELDS if name != "payload"}
    columns["payload"] = pa.array([record["payload"]])  # a struct, not a JSON string
    path = tmp_path / "a.parquet"
    pq.write_table(pa.table(columns), path)
    quarantine, events, ledger = _ingest(path, tmp_path, now, "nested")
    assert events == [] and ledger[:4] == (0, 0, 0, 0) and ledger[-1] == "unreadable"
    assert [(q[0], q[1]) for q in quarantine] == [(0, Reason.UNREADABLE_FILE)]
    assert "column payload" in quarantine[0][2]
