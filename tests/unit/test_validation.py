"""Every validation rule, in every format: each bad record gets exactly its reason; good ones pass."""

from __future__ import annotations

import gzip
import threading
from pathlib import Path

import orjson
import pytest

from dagster_project.contract.events import Reason
from dagster_project.ingestion.ingest import ingest_file, ingest_paths
from tests.events_factory import event, write_csv, write_jsonl, write_parquet

# (case id, record, expected reason); records other than the envelope being tested are valid.
CASES = [
    ("valid", event(), None),
    ("valid_z_offset", event(occurred_at="2026-10-05T14:14:03Z"), None),
    ("valid_null_actor", event(actor=None), None),
    ("valid_empty_payload_touch", event(event_name="signal.touched", payload={}), None),
    ("valid_unknown_payload_keys_kept", event(payload={"source_type": "web", "extra": [1, 2]}), None),
    (
        "valid_org_event",
        event(
            event_name="config.changed",
            entity_type="org",
            entity_id="acme",
            payload={"key": "gate_mode", "value": "warn"},
        ),
        None,
    ),
    ("missing_event_id", {k: v for k, v in event().items() if k != "event_id"}, Reason.MISSING_FIELD),
    ("null_entity_id", event(entity_id=None), Reason.MISSING_FIELD),
    ("missing_payload", {k: v for k, v in event().items() if k != "payload"}, Reason.MISSING_FIELD),
    ("missing_required_payload", event(payload={"urgency": 0.2}), Reason.MISSING_FIELD),
    ("numeric_event_id", event(event_id=12), Reason.WRONG_TYPE),
    ("payload_list", event(payload=[1, 2]), Reason.WRONG_TYPE),
    (
        "bool_as_string",
        event(
            event_name="pursuit.checklist_item_set",
            entity_type="pursuit",
            entity_id="p1",
            payload={"checklist": "pink", "item": "budget_confirmed", "done": "yes"},
        ),
        Reason.WRONG_TYPE,
    ),
    (
        "bad_date",
        event(
            event_name="candidate.promoted",
            entity_type="candidate",
            entity_id="c1",
            payload={"pursuit_id": "p1", "due_date": "2026-02-30"},
        ),
        Reason.WRONG_TYPE,
    ),
    ("empty_event_id", event(event_id=""), Reason.BAD_ID),
    ("long_entity_id", event(entity_id="x" * 129), Reason.BAD_ID),
    ("bad_org", event(org_id="Acme Corp!"), Reason.BAD_ORG_ID),
    ("org_too_long", event(org_id="a" * 65), Reason.BAD_ORG_ID),
    ("unknown_event", event(event_name="signal.exploded"), Reason.UNKNOWN_EVENT),
    ("entity_mismatch", event(entity_type="pursuit"), Reason.ENTITY_TYPE_MISMATCH),
    ("unknown_entity_type", event(entity_type="planet"), Reason.ENTITY_TYPE_MISMATCH),
    ("naive", event(occurred_at="2026-10-05T09:14:03"), Reason.NAIVE_TIMESTAMP),
    ("naive_date", event(occurred_at="2026-10-05"), Reason.NAIVE_TIMESTAMP),
    ("not_a_date", event(occurred_at="yesterday"), Reason.BAD_TIMESTAMP),
    ("impossible_date", event(occurred_at="2026-13-45T09:14:03Z"), Reason.BAD_TIMESTAMP),
    ("offset_hours_out_of_range", event(occurred_at="2026-10-05T09:14:03+25:00"), Reason.BAD_TIMESTAMP),
    ("offset_minutes_out_of_range", event(occurred_at="2026-10-05T09:14:03-05:60"), Reason.BAD_TIMESTAMP),
    ("future", event(occurred_at="2099-01-01T00:00:00Z"), Reason.FUTURE_TIMESTAMP),
    ("valid_lowercase_t_and_z", event(occurred_at="2026-10-05t09:14:03.5z"), None),
    ("valid_lowercase_t_with_offset", event(occurred_at="2026-10-05t09:14:03+02:00"), None),
    ("year_zero", event(occurred_at="0000-06-01T00:00:00Z"), Reason.BAD_TIMESTAMP),
    ("utc_before_year_one", event(occurred_at="0001-01-01T00:30:00+01:00"), Reason.BAD_TIMESTAMP),
    ("utc_after_year_9999", event(occurred_at="9999-12-31T23:30:00-01:00"), Reason.BAD_TIMESTAMP),
    (
        "valid_lowercase_expires_at",
        event(
            event_name="memory.recorded",
            entity_type="candidate",
            entity_id="c1",
            payload={"atom_type": "risk", "content": "x", "expires_at": "2027-01-01t00:00:00z"},
        ),
        None,
    ),
    (
        "expires_at_before_year_one",
        event(
            event_name="memory.recorded",
            entity_type="candidate",
            entity_id="c1",
            payload={"atom_type": "risk", "content": "x", "expires_at": "0001-01-01T00:00:00+00:01"},
        ),
        Reason.BAD_TIMESTAMP,
    ),
    (
        "due_date_year_zero",
        event(
            event_name="candidate.promoted",
            entity_type="candidate",
            entity_id="c1",
            payload={"pursuit_id": "p1", "due_date": "0000-06-01"},
        ),
        Reason.BAD_TIMESTAMP,
    ),
    ("urgency_high", event(payload={"source_type": "email", "urgency": 1.7}), Reason.OUT_OF_RANGE),
    ("source_type_fax", event(payload={"source_type": "fax"}), Reason.OUT_OF_RANGE),
    (
        "value_band_huge",
        event(
            event_name="candidate.created",
            entity_type="candidate",
            entity_id="c1",
            payload={"title": "Deal", "value_band": "huge"},
        ),
        Reason.OUT_OF_RANGE,
    ),
    (
        "compliance_11",
        event(
            event_name="pursuit.updated",
            entity_type="pursuit",
            entity_id="p1",
            payload={"compliance_score": 11},
        ),
        Reason.OUT_OF_RANGE,
    ),
    (
        "negative_value",
        event(
            event_name="candidate.promoted",
            entity_type="candidate",
            entity_id="c1",
            payload={"pursuit_id": "p1", "forecast_value_usd": -5},
        ),
        Reason.OUT_OF_RANGE,
    ),
    (
        "stage_unknown",
        event(
            event_name="pursuit.stage_changed",
            entity_type="pursuit",
            entity_id="p1",
            payload={"to": "celebrating"},
        ),
        Reason.OUT_OF_RANGE,
    ),
]


def _ids(cases):
    return [c[0] for c in cases]


def _give_unique_ids(records):
    out = []
    for i, rec in enumerate(records):
        if isinstance(rec, dict) and isinstance(rec.get("event_id"), str) and rec["event_id"]:
            rec = {**rec, "event_id": f"{rec['event_id']}-{i}"}
        out.append(rec)
    return out


@pytest.mark.parametrize("case_id,record,reason", CASES, ids=_ids(CASES))
def test_each_rule_in_jsonl(tmp_path: Path, warehouse, now, case_id, record, reason):
    path = write_jsonl(tmp_path / f"{case_id}.jsonl", [record])
    result = ingest_file(warehouse, path, now=now)
    assert result.lines == 1
    if reason is None:
        assert result.accepted == 1, warehouse.execute("select reason, detail from raw.quarantine").fetchall()
    else:
        rows = warehouse.execute("select line, reason, detail from raw.quarantine").fetchall()
        assert [(r[0], r[1]) for r in rows] == [(1, reason)]
        assert rows[0][2], "every quarantine row explains itself"


def test_all_rules_in_one_file_in_every_format(tmp_path: Path, warehouse, now):
    """The same records as JSONL, gzipped JSONL, CSV and Parquet give the same reasons per line."""
    # Not expressible in CSV/Parquet string columns: JSON types, and empty vs missing (both are null there).
    tabular = [
        c
        for c in CASES
        if c[0] not in {"numeric_event_id", "payload_list", "missing_payload", "empty_event_id"}
    ]
    records = _give_unique_ids([c[1] for c in tabular])
    expected = [(i + 1, c[2]) for i, c in enumerate(tabular) if c[2] is not None]
    writers = {
        "a.jsonl": lambda p: write_jsonl(p, records),
        "b.jsonl.gz": lambda p: write_jsonl(p, records, gz=True),
        "c.csv": lambda p: write_csv(p, records),
        "d.parquet": lambda p: write_parquet(p, records),
    }
    for name, write in writers.items():
        path = write(tmp_path / name)
        result = ingest_file(warehouse, path, now=now)
        got = warehouse.execute(
            "select line, reason from raw.quarantine where file = ? order by line", [name]
        ).fetchall()
        # Files after the first see the earlier files' events: their valid lines are duplicates.
        assert got == expected, name
        assert result.lines == len(records)
        assert result.lines == result.accepted + result.duplicates + result.quarantined


def test_parse_level_problems(tmp_path: Path, warehouse, now):
    good = orjson_line(event("ok-1"))
    raw = [
        good,
        b"{not json",
        b"[1, 2, 3]",
        b'"just a string"',
        orjson_line(event("enc-1", payload={"source_type": "email", "snippet": "x"})).replace(
            b'"x"', b'"caf\xe9"'
        ),
        b"",
        b"   ",
        orjson_line(event("ok-2")),
    ]
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(b"\n".join(raw) + b"\n")
    result = ingest_file(warehouse, path, now=now)
    assert result.lines == 6, "blank and whitespace-only lines are not records"
    rows = warehouse.execute("select line, reason, raw from raw.quarantine order by line").fetchall()
    assert [(r[0], r[1]) for r in rows] == [
        (2, Reason.BAD_JSON),
        (3, Reason.BAD_JSON),
        (4, Reason.BAD_JSON),
        (5, Reason.BAD_ENCODING),
    ]
    assert rows[0][2] == "{not json", "the raw text is kept for repair"
    lines = warehouse.execute("select source_line from raw.events order by 1").fetchall()
    assert lines == [(1,), (6,)]


def orjson_line(record) -> bytes:
    import orjson

    return orjson.dumps(record)


def test_duplicates_identical_counted_conflicting_quarantined(tmp_path: Path, warehouse, now):
    first = event("dup-1")
    reordered = {
        **first,
        "payload": {"urgency": 0.5, "source_type": "email"},
    }  # same content, other key order
    same_instant = {**first, "occurred_at": "2026-10-05T14:14:03.12Z"}  # the same instant in UTC
    conflict = {**first, "payload": {"source_type": "email", "urgency": 0.9}}
    write_jsonl(tmp_path / "a.jsonl", [first, reordered, same_instant, conflict])
    write_jsonl(tmp_path / "b.jsonl", [conflict, first])
    report = ingest_paths(warehouse, [tmp_path / "a.jsonl", tmp_path / "b.jsonl"], now=now)
    a, b = report.files
    assert (a.accepted, a.duplicates, a.quarantined) == (1, 2, 1)
    assert (b.accepted, b.duplicates, b.quarantined) == (0, 1, 1)
    reasons = warehouse.execute(
        "select file, line, reason from raw.quarantine order by file, line"
    ).fetchall()
    assert reasons == [
        ("a.jsonl", 4, Reason.CONFLICTING_DUPLICATE),
        ("b.jsonl", 1, Reason.CONFLICTING_DUPLICATE),
    ]
    stored = warehouse.execute("select payload->>'urgency' from raw.events").fetchall()
    assert stored == [("0.5",)], "the first accepted version stands"


def test_redropped_file_is_a_noop(tmp_path: Path, warehouse, now):
    path = write_jsonl(tmp_path / "a.jsonl", [event("a"), event("b"), {"broken": True}])
    first = ingest_file(warehouse, path, now=now)
    copy = tmp_path / "renamed.jsonl"
    copy.write_bytes(path.read_bytes())
    again = ingest_file(warehouse, copy, now=now)
    assert first.status == "ok" and again.status == "skipped"
    assert warehouse.execute("select count(*) from raw.events").fetchone() == (2,)
    assert warehouse.execute("select count(*) from raw.ingest_ledger").fetchone() == (1,)
    assert warehouse.execute("select count(*) from raw.quarantine").fetchone() == (1,)


def test_ingest_paths_reads_ahead_in_order(tmp_path: Path, warehouse, now, monkeypatch):
    """Two lanes read and prepare files at once, but store them in file order: results, conflicts and
    skips stay as in file order, and no stage table outlives the call."""
    import dagster_project.ingestion.ingest as ingest_module

    read: list[str] = []
    real_read_batches = ingest_module.read_batches

    def recording_read_batches(path, fmt, **kwargs):
        read.append(path.name)
        return real_read_batches(path, fmt, **kwargs)

    monkeypatch.setattr(ingest_module, "read_batches", recording_read_batches)
    real_read_json_data = ingest_module.read_json_data

    def recording_read_json_data(path, compressed):  # a .jsonl.gz is inflated before its batches
        read.append(path.name)
        return real_read_json_data(path, compressed)

    monkeypatch.setattr(ingest_module, "read_json_data", recording_read_json_data)
    done = ingest_file(warehouse, write_jsonl(tmp_path / "a.jsonl", [event("a1")]), now=now)
    read.clear()
    (tmp_path / "b.jsonl.gz").write_bytes(b"not gzip")
    write_csv(tmp_path / "c.csv", [event("c1"), event("c2")])
    (tmp_path / "c-copy.csv").write_bytes((tmp_path / "c.csv").read_bytes())
    write_parquet(tmp_path / "d.parquet", [event("c2", payload={"source_type": "web"}), event("d1")])
    write_jsonl(tmp_path / "e.jsonl", [event("a1"), event("e1")])
    names = ["a.jsonl", "b.jsonl.gz", "c.csv", "c-copy.csv", "d.parquet", "e.jsonl"]
    threads = warehouse.execute("select current_setting('threads')").fetchone()
    report = ingest_paths(warehouse, [tmp_path / n for n in names], now=now)
    # the lanes run DuckDB on one thread each, then give its thread count back
    assert warehouse.execute("select current_setting('threads')").fetchone() == threads
    assert done.status == "ok"
    assert [(f.file, f.status, f.accepted, f.duplicates, f.quarantined) for f in report.files] == [
        ("a.jsonl", "skipped", 0, 0, 0),
        ("b.jsonl.gz", "unreadable", 0, 0, 0),
        ("c.csv", "ok", 2, 0, 0),
        ("c-copy.csv", "skipped", 0, 0, 0),
        ("d.parquet", "ok", 1, 0, 1),  # c2 conflicts with c.csv's, stored just before
        ("e.jsonl", "ok", 1, 1, 0),  # a1: identical to the earlier run's
    ]
    # the lanes read in either order; files in the ledger are never read
    assert sorted(read) == ["b.jsonl.gz", "c.csv", "d.parquet", "e.jsonl"]
    assert warehouse.execute(
        "select count(*) from duckdb_tables() where database_name = 'ingest_stage'"
    ).fetchone() == (0,), "the stage tables are dropped"
    # DuckDB's row-order setting is left on: the JSON reader's line numbers need it
    assert warehouse.execute("select current_setting('preserve_insertion_order')").fetchone() == (True,)
    assert warehouse.execute("select file, line, reason from raw.quarantine order by file").fetchall() == [
        ("b.jsonl.gz", 0, Reason.UNREADABLE_FILE),
        ("d.parquet", 1, Reason.CONFLICTING_DUPLICATE),
    ]


def test_a_lane_that_dies_outside_a_store_does_not_leave_the_other_waiting(
    tmp_path: Path, warehouse, now, monkeypatch
):
    """An interrupt (not an Exception) while a lane prepares file 0: the other lane, which would wait for
    file 0's turn, stops too, and the run raises instead of hanging."""
    import dagster_project.ingestion.ingest as ingest_module

    class Interrupt(BaseException):
        pass

    real_read = ingest_module._read

    def interrupted_read(info, con, schema, now):
        if info.path.name == "a.jsonl":
            raise Interrupt
        return real_read(info, con, schema, now)

    monkeypatch.setattr(ingest_module, "_read", interrupted_read)
    paths = [write_jsonl(tmp_path / f"{name}.jsonl", [event(f"{name}1")]) for name in "abc"]
    outcome: list[BaseException | None] = []

    def run() -> None:
        try:
            ingest_paths(warehouse, paths, now=now)
            outcome.append(None)
        except BaseException as exc:  # noqa: BLE001 - the interrupt is what the test expects
            outcome.append(exc)

    runner = threading.Thread(target=run, daemon=True)
    runner.start()
    runner.join(timeout=60)
    assert not runner.is_alive(), "the ingest hung"
    assert isinstance(outcome[0], Interrupt)
    assert warehouse.execute("select count(*) from raw.events").fetchone() == (0,)


def test_lanes_share_duckdbs_threads_and_take_jobs_in_file_order(warehouse):
    """Two lanes at work: one DuckDB thread each; one waiting or out of files: all of them for the lane
    still working. Jobs: a prepared file is stored in file order, one at a time, before anything else;
    otherwise the next file is prepared while fewer than three are unstored."""
    from dagster_project.ingestion.lanes import _Schedule, _ThreadShare

    def threads() -> int:
        return warehouse.execute("select current_setting('threads')").fetchone()[0]

    warehouse.execute("set threads = 1")
    share = _ThreadShare(4, lanes=2)
    with share.paused(warehouse):
        assert threads() == 4
    assert threads() == 2  # both at work again: 4 // 2
    share.leave(warehouse)
    assert threads() == 4
    with share.paused(warehouse):  # nobody left at work: DuckDB keeps its full count
        assert threads() == 4
    assert threads() == 4

    schedule = _Schedule(["f0", "f1", "f2", "f3", "f4"])

    def no_wait():
        raise AssertionError("a job was ready: no lane should wait")

    jobs = [schedule.next_job(no_wait) for _ in range(3)]
    assert jobs == [("prepare", 0), ("prepare", 1), ("prepare", 2)]  # three unstored files at most
    assert schedule._job() is None
    schedule.prepared(1, "read 1")
    assert schedule._job() is None, "file 1 waits for file 0: stores go in file order"
    schedule.prepared(0, "read 0")
    assert schedule.next_job(no_wait) == ("store", 0)
    assert schedule.take(0) == "read 0"
    assert schedule._job() is None, "one store at a time, and three files are still unstored"
    schedule.stored(ok=True)
    assert schedule.next_job(no_wait) == ("store", 1)
    assert schedule.next_job(no_wait) == ("prepare", 3)  # the other lane prepares meanwhile
    schedule.stored(ok=False)  # file 1's store failed: nothing after it is stored in this run
    assert schedule.next_job(no_wait) == ("done", -1)
    assert list(schedule.unstored()) == [1, 2, 3]


def test_a_file_rewritten_after_hashing_is_hashed_again(tmp_path: Path, warehouse, now, monkeypatch):
    """Hashes are taken up front and files read later: the ledger must name the bytes that were read."""
    import hashlib

    import dagster_project.ingestion.lanes as lanes_module

    first = write_jsonl(tmp_path / "a.jsonl", [event("a1")])
    second = write_jsonl(tmp_path / "b.jsonl", [event("b1")])
    real_cursor = lanes_module.cursor

    def rewriting_cursor(con):
        with once:  # after every file was hashed, before any is read (each lane opens its cursor first)
            if not rewritten:
                write_jsonl(second, [event("b2"), event("b3")])  # b.jsonl replaced in place
                rewritten.append(second)
        return real_cursor(con)

    once, rewritten = threading.Lock(), []
    monkeypatch.setattr(lanes_module, "cursor", rewriting_cursor)
    report = ingest_paths(warehouse, [first, second], now=now)
    assert [(f.file, f.status, f.accepted) for f in report.files] == [
        ("a.jsonl", "ok", 1),
        ("b.jsonl", "ok", 2),
    ]
    (ledger_hash,) = warehouse.execute(
        "select content_hash from raw.ingest_ledger where file = 'b.jsonl'"
    ).fetchone()
    assert ledger_hash == hashlib.sha256(second.read_bytes()).hexdigest() == report.files[1].content_hash
    assert warehouse.execute("select event_id from raw.events order by 1").fetchall() == [
        ("a1",),
        ("b2",),
        ("b3",),
    ]


def test_unreadable_files_are_quarantined_whole(tmp_path: Path, warehouse, now):
    tmp_path = tmp_path / "inbox"
    tmp_path.mkdir()
    (tmp_path / "broken.jsonl.gz").write_bytes(b"this is not gzip")
    compressed = gzip.compress(orjson.dumps(event("z1")) + b"\n")
    # a gzip header, then a deflate block of the reserved type: zlib, not the gzip module, rejects it
    (tmp_path / "corrupt.jsonl.gz").write_bytes(compressed[:10] + b"\xff\xff\xff\xff" + compressed[14:])
    (tmp_path / "truncated.jsonl.gz").write_bytes(compressed[: len(compressed) // 2])
    (tmp_path / "broken.parquet").write_bytes(b"PAR1 nope")
    (tmp_path / "noheader.csv").write_text("a,b,c\n1,2,3\n")
    (tmp_path / "empty.csv").write_text("")
    paths = sorted(tmp_path.iterdir())
    report = ingest_paths(warehouse, paths, now=now)
    assert all(f.status == "unreadable" for f in report.files)
    rows = warehouse.execute("select file, line, reason from raw.quarantine order by file").fetchall()
    assert rows == [
        ("broken.jsonl.gz", 0, Reason.UNREADABLE_FILE),
        ("broken.parquet", 0, Reason.UNREADABLE_FILE),
        ("corrupt.jsonl.gz", 0, Reason.UNREADABLE_FILE),
        ("empty.csv", 0, Reason.BAD_HEADER),
        ("noheader.csv", 0, Reason.BAD_HEADER),
        ("truncated.jsonl.gz", 0, Reason.UNREADABLE_FILE),
    ]
    ledger = warehouse.execute(
        "select lines, accepted, duplicates, quarantined, status from raw.ingest_ledger"
    ).fetchall()
    assert set(ledger) == {(0, 0, 0, 0, "unreadable")}


def test_gzip_files_duckdb_refuses_but_python_reads_are_ingested(tmp_path: Path, warehouse, now, monkeypatch):
    """DuckDB's reader rejects an empty .gz and zero padding after the gzip stream; Python's reads them,
    so their records are parsed from Python's text instead of failing the run (and DuckDB's pass over
    such a file is not tried twice)."""
    import dagster_project.ingestion.ingest as ingest_module
    import dagster_project.ingestion.parsing as parsing_module

    passes: list[str] = []
    real_stage = parsing_module.stage_json_file

    def counting_stage(con, path, **kw):
        passes.append(path.name)
        return real_stage(con, path, **kw)

    monkeypatch.setattr(ingest_module, "stage_json_file", counting_stage)
    monkeypatch.setattr(parsing_module, "stage_json_file", counting_stage)
    tmp_path = tmp_path / "inbox"
    tmp_path.mkdir()
    line = orjson.dumps(event("p1")) + b"\n"
    (tmp_path / "a-padded.jsonl.gz").write_bytes(gzip.compress(line) + b"\x00" * 16)
    (tmp_path / "b-empty.jsonl.gz").write_bytes(b"")
    (tmp_path / "c-members.jsonl.gz").write_bytes(
        gzip.compress(orjson.dumps(event("m1")) + b"\n") + gzip.compress(b"{not json\n")
    )
    report = ingest_paths(warehouse, sorted(tmp_path.iterdir()), now=now)
    assert [(f.file, f.status, f.lines, f.accepted, f.quarantined) for f in report.files] == [
        ("a-padded.jsonl.gz", "ok", 1, 1, 0),
        ("b-empty.jsonl.gz", "ok", 0, 0, 0),
        ("c-members.jsonl.gz", "ok", 2, 1, 1),
    ]
    assert sorted(passes) == ["a-padded.jsonl.gz", "b-empty.jsonl.gz", "c-members.jsonl.gz"]
    assert warehouse.execute("select event_id from raw.events order by 1").fetchall() == [("m1",), ("p1",)]
    assert warehouse.execute("select file, line, reason from raw.quarantine").fetchall() == [
        ("c-members.jsonl.gz", 2, Reason.BAD_JSON)
    ]


def test_a_20_mb_event_is_stored_whole(tmp_path: Path, warehouse, now):
    """A long note makes a 20 MB record: DuckDB's reader takes it, and the stored payload is all of it."""
    big = event("big", payload={"source_type": "web", "note": "x" * 20_000_000})
    path = tmp_path / "big.jsonl"
    path.write_bytes(b"\n".join(orjson.dumps(e) for e in (event("s1"), big, event("s2"))) + b"\n")
    result = ingest_file(warehouse, path, now=now)
    assert (result.status, result.lines, result.accepted, result.quarantined) == ("ok", 3, 3, 0)
    assert warehouse.execute(
        "select event_id, length(payload::varchar) > 20000000 from raw.events order by source_line"
    ).fetchall() == [("s1", False), ("big", True), ("s2", False)]


def test_a_csv_field_over_the_csv_modules_default_limit_is_read(tmp_path: Path, warehouse, now):
    """A 20 MB payload cell in a CSV file pyarrow's reader does not take: the `csv` module reads it
    (its default limit, 128 KiB, made the row a csv error and the record a missing_field)."""
    big = event("big", payload={"source_type": "web", "note": "x" * 20_000_000})
    path = write_csv(tmp_path / "big.csv", [event("c1"), big])
    result = ingest_file(warehouse, path, now=now)
    assert (result.status, result.lines, result.accepted, result.quarantined) == ("ok", 2, 2, 0)


def test_a_record_too_large_to_parse_within_the_memory_cap_quarantines_the_file(
    tmp_path: Path, warehouse, now
):
    """A 20 MB record DuckDB cannot parse as an event (not one of its fields) is judged record by
    record, which needs more than a 256 MB cap: the file is quarantined whole with the line and the
    way out, and the run goes on."""
    warehouse.execute("set memory_limit = '256MB'")
    path = tmp_path / "huge.jsonl"
    path.write_bytes(orjson.dumps(event("s1")) + b"\n" + b'{"a": "' + b"x" * 20_000_000 + b'"}\n')
    result = ingest_file(warehouse, path, now=now)
    assert (result.status, result.lines) == ("unreadable", 0)
    ((reason, detail),) = warehouse.execute("select reason, detail from raw.quarantine").fetchall()
    assert reason == Reason.UNREADABLE_FILE
    assert "line 2 (19.1 MB)" in detail and "WORKSTREAM_DUCKDB_MEMORY" in detail


def test_a_leading_byte_order_mark_is_not_part_of_the_first_record(tmp_path: Path, warehouse, now):
    """Excel's "CSV UTF-8" starts the file with a UTF-8 byte-order mark: the header and the first JSON
    record are read without it."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    bom = b"\xef\xbb\xbf"
    (inbox / "a.jsonl").write_bytes(
        bom + orjson.dumps(event("j1")) + b"\n" + orjson.dumps(event("j2")) + b"\n"
    )
    csv_text = write_csv(tmp_path / "plain.csv", [event("c1"), event("c2")]).read_bytes()
    (inbox / "b.csv").write_bytes(bom + csv_text)
    (inbox / "c.csv").write_bytes(
        bom + csv_text.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n").replace(b"c1", b"e1")
    )
    report = ingest_paths(warehouse, sorted(inbox.iterdir()), now=now)
    assert [(f.file, f.status, f.lines, f.accepted) for f in report.files] == [
        ("a.jsonl", "ok", 2, 2),
        ("b.csv", "ok", 2, 2),
        ("c.csv", "ok", 2, 1),  # c2: an identical duplicate of b.csv's
    ]
    assert warehouse.execute("select count(*) from raw.quarantine").fetchone() == (0,)


def test_ragged_csv_row_is_quarantined_not_the_file(tmp_path: Path, warehouse, now):
    path = write_csv(tmp_path / "a.csv", [event("a"), event("b")])
    with path.open("a") as handle:
        handle.write("only,three,fields\n")
    result = ingest_file(warehouse, path, now=now)
    assert (result.lines, result.accepted, result.quarantined) == (3, 2, 1)
    assert warehouse.execute("select line, reason from raw.quarantine").fetchall() == [
        (3, Reason.MALFORMED_ROW)
    ]


def test_ledger_conservation_and_per_org_split(tmp_path: Path, warehouse, now):
    records = [event("a"), event("b", org_id="globex"), event("a"), {"broken": 1}, event("c", org_id="BAD!")]
    path = write_jsonl(tmp_path / "a.jsonl", records)
    ingest_file(warehouse, path, now=now)
    ledger = warehouse.execute(
        "select lines, accepted, duplicates, quarantined, org_id from raw.ingest_ledger"
    ).fetchone()
    assert ledger == (5, 2, 1, 2, None)
    by_org = warehouse.execute(
        "select org_id, lines, accepted, duplicates, quarantined from raw.ingest_ledger_orgs order by org_id nulls last"
    ).fetchall()
    assert by_org == [("acme", 2, 1, 1, 0), ("globex", 1, 1, 0, 0), (None, 2, 0, 0, 2)]


def test_timestamps_stored_in_utc_microseconds(tmp_path: Path, warehouse, now):
    path = write_jsonl(tmp_path / "a.jsonl", [event("a", occurred_at="2026-10-05T09:14:03.1234567+05:30")])
    ingest_file(warehouse, path, now=now)
    (stored,) = warehouse.execute(
        "select strftime(occurred_at, '%Y-%m-%dT%H:%M:%S.%f') from raw.events"
    ).fetchone()
    assert stored == "2026-10-05T03:44:03.123456"


@pytest.mark.parametrize("make", [write_jsonl, write_csv, write_parquet], ids=["jsonl", "csv", "parquet"])
def test_stored_content_hash_is_the_documented_formula(tmp_path: Path, warehouse, now, make):
    """Stored hashes are compared with later files' hashes, so the formula must never drift.

    md5 over the fields joined by U+001F: name, entity type, entity id, actor (U+0000 when null), UTC
    time to the µs with a `Z`, the payload as DuckDB minifies it.
    """
    import hashlib

    record = event("h1", occurred_at="2026-10-05T09:14:03.1234567+05:30", actor=None)
    ingest_file(warehouse, make(tmp_path / f"a.{make.__name__[6:]}", [record]), now=now)
    stored, payload = warehouse.execute("select content_hash, payload::varchar from raw.events").fetchone()
    assert payload == '{"source_type":"email","urgency":0.5}'
    text = "\x1f".join(["signal.created", "signal", "sig-1", "\x00", "2026-10-05T03:44:03.123456Z", payload])
    assert stored == hashlib.md5(text.encode()).hexdigest()


def test_future_tolerance_is_five_minutes(tmp_path: Path, warehouse, now):
    ok = event("ok", occurred_at="2026-11-28T12:05:00Z")
    late = event("late", occurred_at="2026-11-28T12:05:01Z")
    ingest_file(warehouse, write_jsonl(tmp_path / "a.jsonl", [ok, late]), now=now)
    assert warehouse.execute("select event_id from raw.events").fetchall() == [("ok",)]


@pytest.mark.parametrize(
    "text",
    [
        b'{"event_id":"t1","org_id":"acme","occurred_at":"2026-10-05T09:14:03Z","event_name":"signal.touched",'
        b'"entity_type":"signal","entity_id":"s1","payload":{"channel":"email",},}',
        b'{"event_id":"t2","org_id":"acme","occurred_at":"2026-10-05T09:14:03Z","event_name":"signal.created",'
        b'"entity_type":"signal","entity_id":"s1","payload":{"source_type":"email","urgency":NaN}}',
    ],
    ids=["trailing_comma", "nan"],
)
def test_lenient_json_is_not_json(tmp_path: Path, warehouse, now, text):
    """DuckDB's parser accepts these; the contract's JSON does not."""
    good = orjson_line(event("ok-1"))
    path = tmp_path / "lenient.jsonl"
    path.write_bytes(good + b"\n" + text + b"\n")
    result = ingest_file(warehouse, path, now=now)
    assert (result.accepted, result.quarantined) == (1, 1)
    assert warehouse.execute("select line, reason from raw.quarantine").fetchall() == [(2, Reason.BAD_JSON)]


def test_lenient_records_are_found_after_blank_lines_and_at_the_end(tmp_path: Path, warehouse, now):
    """The whole-file search for lenient JSON numbers records as the contract does (blank lines skipped)."""
    nan_in_text = orjson_line(event("ok-2", payload={"source_type": "email", "note": "NaN, Infinity ,}"}))
    lines = [
        orjson_line(event("ok-1")),
        b"",
        b"   \t",
        orjson_line(event("bad-1"))[:-2] + b",  }}",  # trailing comma with spaces, record 2
        nan_in_text,  # the words inside a string are JSON: accepted
        b'{"event_id":"bad-2","org_id":"acme","occurred_at":"2026-10-05T09:14:03Z","event_name":"signal.created",'
        b'"entity_type":"signal","entity_id":"s1","payload":{"source_type":"email","urgency":NaN}}',
        b"",
        b'{"event_id":"bad-3","org_id":"acme","occurred_at":"2026-10-05T09:14:03Z","event_name":"signal.created",'
        b'"entity_type":"signal","entity_id":"s1","payload":{"source_type":"email","urgency":-Infinity}}',
    ]
    path = tmp_path / "lenient.jsonl"
    path.write_bytes(b"\n".join(lines))  # no newline after the last record
    result = ingest_file(warehouse, path, now=now)
    assert (result.lines, result.accepted, result.quarantined) == (5, 2, 3)
    assert warehouse.execute("select line, reason from raw.quarantine order by line").fetchall() == [
        (2, Reason.BAD_JSON),
        (4, Reason.BAD_JSON),
        (5, Reason.BAD_JSON),
    ]


def test_lenient_payload_string_in_csv_is_bad_json(tmp_path: Path, warehouse, now):
    records = [
        event("a"),
        event("b", payload='{"source_type": "email",}'),
        event("c", payload='{"source_type": "web"}'),
    ]
    result = ingest_file(warehouse, write_csv(tmp_path / "a.csv", records), now=now)
    assert (result.accepted, result.quarantined) == (2, 1)
    assert warehouse.execute("select line, reason from raw.quarantine").fetchall() == [(2, Reason.BAD_JSON)]


def test_invalid_record_with_a_repeated_key_is_not_the_reference(tmp_path: Path, warehouse, now):
    """Only valid records take part in duplicate detection, even when an invalid one shares their key."""
    first = event("dup-2")
    invalid = {**first, "occurred_at": "2099-01-01T00:00:00Z", "payload": {"source_type": "web"}}
    reordered = {**first, "payload": dict(reversed(list(first["payload"].items())))}
    result = ingest_file(warehouse, write_jsonl(tmp_path / "a.jsonl", [invalid, first, reordered]), now=now)
    assert (result.accepted, result.duplicates, result.quarantined) == (1, 1, 1)
    assert warehouse.execute("select line, reason from raw.quarantine").fetchall() == [
        (1, Reason.FUTURE_TIMESTAMP)
    ]
    assert warehouse.execute("select source_line from raw.events").fetchall() == [(2,)]


def test_a_failing_file_stops_the_run_after_the_files_before_it(tmp_path: Path, warehouse, now, monkeypatch):
    """An unexpected error while a lane prepares a file is raised in that file's turn: every file before
    it is stored, none after it, and a rerun takes up where it stopped."""
    import dagster_project.ingestion.ingest as ingest_module

    paths = [write_jsonl(tmp_path / f"{name}.jsonl", [event(f"{name}1")]) for name in "abcd"]
    real_read_batches = ingest_module.read_batches

    def failing_read_batches(path, fmt, **kwargs):
        if path.name == "c.jsonl":
            raise RuntimeError("disk on fire")
        return real_read_batches(path, fmt, **kwargs)

    monkeypatch.setattr(ingest_module, "read_batches", failing_read_batches)
    with pytest.raises(RuntimeError, match="disk on fire"):
        ingest_paths(warehouse, paths, now=now)
    assert warehouse.execute("select file from raw.ingest_ledger order by 1").fetchall() == [
        ("a.jsonl",),
        ("b.jsonl",),
    ]
    assert warehouse.execute(
        "select count(*) from duckdb_tables() where database_name = 'ingest_stage'"
    ).fetchone() == (0,)
    monkeypatch.setattr(ingest_module, "read_batches", real_read_batches)
    report = ingest_paths(warehouse, paths, now=now)
    assert [(f.file, f.status) for f in report.files] == [
        ("a.jsonl", "skipped"),
        ("b.jsonl", "skipped"),
        ("c.jsonl", "ok"),
        ("d.jsonl", "ok"),
    ]


def _typed_parquet(path: Path, records: list[dict], types: dict) -> Path:
    """A Parquet file whose envelope columns have the given Arrow types (text unless named)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from dagster_project.contract.events import ENVELOPE_FIELDS
    from tests.events_factory import tabular_row

    columns = {}
    for name in ENVELOPE_FIELDS:
        if name in types:
            columns[name] = pa.array([r.get(name) for r in records], types[name])
        else:
            columns[name] = pa.array([tabular_row(r)[name] for r in records], pa.string())
    pq.write_table(pa.table(columns), path)
    return path


@pytest.mark.parametrize(
    "field,value,arrow_type",
    [
        ("event_id", 12, "int64"),
        ("org_id", 7, "int32"),
        ("entity_id", 3.5, "float64"),
        ("actor", True, "bool_"),
        ("event_name", 1, "uint8"),
    ],
)
def test_a_typed_parquet_column_follows_the_json_typing_rules(
    tmp_path: Path, warehouse, now, field, value, arrow_type
):
    """A number in a Parquet column is a number, as in JSON Lines: wrong_type, not cast to text and accepted."""
    import pyarrow as pa

    record = {**event(f"typed-{field}"), field: value}
    jsonl = ingest_file(warehouse, write_jsonl(tmp_path / "a.jsonl", [record]), now=now)
    parquet = ingest_file(
        warehouse,
        _typed_parquet(tmp_path / "b.parquet", [record], {field: getattr(pa, arrow_type)()}),
        now=now,
    )
    assert (jsonl.quarantined, parquet.quarantined) == (1, 1)
    assert warehouse.execute("select file, line, reason from raw.quarantine order by file").fetchall() == [
        ("a.jsonl", 1, Reason.WRONG_TYPE),
        ("b.parquet", 1, Reason.WRONG_TYPE),
    ]


def test_parquet_text_stored_as_binary_or_dictionary_is_text(tmp_path: Path, warehouse, now):
    """Writers store strings as plain binary or dictionary-encoded columns: both are still text."""
    import pyarrow as pa

    records = [event("bin-1"), event("bin-2", actor=None)]
    path = _typed_parquet(
        tmp_path / "a.parquet",
        records,
        {
            "event_id": pa.binary(),
            "org_id": pa.dictionary(pa.int32(), pa.string()),
            "actor": pa.large_string(),
        },
    )
    result = ingest_file(warehouse, path, now=now)
    assert (result.accepted, result.quarantined) == (2, 0), warehouse.execute(
        "select reason, detail from raw.quarantine"
    ).fetchall()


def test_a_payload_column_that_is_not_text_is_the_wrong_type(tmp_path: Path, warehouse, now):
    """The payload column holds JSON text; a numeric payload column is wrong_type like a numeric payload."""
    import pyarrow as pa

    record = event("num-payload", payload=5)
    jsonl = ingest_file(warehouse, write_jsonl(tmp_path / "a.jsonl", [record]), now=now)
    parquet = ingest_file(
        warehouse, _typed_parquet(tmp_path / "b.parquet", [record], {"payload": pa.int64()}), now=now
    )
    assert (jsonl.quarantined, parquet.quarantined) == (1, 1)
    assert {r[0] for r in warehouse.execute("select reason from raw.quarantine").fetchall()} == {
        Reason.WRONG_TYPE
    }


# -- records whose JSON the apply would read otherwise than the validator: refused whole ------------


def _with_raw_payload(event_id: str, raw_payload: bytes, **overrides) -> dict:
    """A valid signal.created event whose payload is the given JSON text (kept byte for byte)."""
    return {**event(event_id, **overrides), "payload": raw_payload}


def _ingest_each_format(
    tmp_path: Path, warehouse, now, records: list
) -> dict[str, list[tuple[int, str | None]]]:
    """The per-line verdicts (None: accepted) of the same records as JSON Lines, CSV and Parquet."""
    from tests.events_factory import tabular_row

    def tabular(record):
        row = tabular_row({k: v for k, v in record.items() if k != "payload"})
        row["payload"] = record["payload"].decode()
        return row

    rows = [tabular(r) for r in records]
    out = {}
    for name, write in {
        "a.jsonl": lambda p: write_jsonl(
            p, [orjson.dumps({**r, "payload": orjson.Fragment(r["payload"])}) for r in records]
        ),
        "b.csv": lambda p: write_csv(p, rows),
        "c.parquet": lambda p: write_parquet(p, rows),
    }.items():
        result = ingest_file(warehouse, write(tmp_path / name), now=now)
        assert result.lines == len(records)
        reasons = dict(
            warehouse.execute("select line, reason from raw.quarantine where file = ?", [name]).fetchall()
        )
        out[name] = [reasons.get(line) for line in range(1, len(records) + 1)]
    return out


def _same_in_every_format(verdicts: dict[str, list]) -> list:
    assert len({tuple(v) for v in verdicts.values()}) == 1, verdicts
    return next(iter(verdicts.values()))


def test_a_duplicate_payload_key_is_quarantined_in_every_format(tmp_path: Path, warehouse, now):
    """The issue's example: validated on `low`, folded with `gigantic`. Any depth, any format."""
    candidate = {"event_name": "candidate.created", "entity_type": "candidate", "entity_id": "c1"}
    records = [
        _with_raw_payload("k1", b'{"title":"Deal","value_band":"low","value_band":"gigantic"}', **candidate),
        _with_raw_payload("k2", b'{"title":"Deal","value_band":"low","value_band":"low"}', **candidate),
        _with_raw_payload(
            "k3",
            b'{"atom_type":"risk","content":"x","source":{"system":"a","trust_weight":0.1,"trust_weight":9}}',
            event_name="memory.recorded",
            entity_type="candidate",
            entity_id="c1",
        ),
        _with_raw_payload("k4", b'{"source_type":"email","x":[{"a":1},{"b":[{"c":1,"c":2}]}]}'),
        # the same key in sibling objects, or as a value, is not a duplicate
        _with_raw_payload("k5", b'{"source_type":"email","x":[{"a":1},{"a":2}],"y":{"a":"a"}}'),
        # a key spelled with an escape is the same key
        _with_raw_payload("k6", b'{"source_type":"email","urgency":0.5,"urg\\u0065ncy":7}'),
    ]
    verdicts = _same_in_every_format(_ingest_each_format(tmp_path, warehouse, now, records))
    assert verdicts == [Reason.DUPLICATE_KEY] * 4 + [None, Reason.DUPLICATE_KEY]
    details = warehouse.execute("select detail from raw.quarantine where line = 1").fetchall()
    assert all("value_band" in d for (d,) in details), details


def test_a_duplicate_envelope_key_is_quarantined(tmp_path: Path, warehouse, now):
    """Two org_ids: the record would be filed under the first, so it is filed under none."""
    raw = orjson.dumps(event("env-dup"))
    records = [
        raw.replace(b'"org_id":"acme"', b'"org_id":"acme","org_id":"globex"'),
        raw.replace(b'"actor":"ann@acme.test"', b'"actor":"ann@acme.test","actor":"ann@acme.test"'),
        raw.replace(b'"event_id":"env-dup"', b'"event_id":"env-dup","extra":1,"extra":2'),
    ]
    result = ingest_file(warehouse, write_jsonl(tmp_path / "a.jsonl", records), now=now)
    assert (result.accepted, result.quarantined) == (0, 3)
    assert {r for (r,) in warehouse.execute("select reason from raw.quarantine").fetchall()} == {
        Reason.DUPLICATE_KEY
    }
    assert warehouse.execute("select count(*) from raw.events").fetchone() == (0,)


def test_nesting_past_the_limit_is_quarantined_in_every_format(tmp_path: Path, warehouse, now):
    """The payload may nest MAX_NESTING levels (itself the first); one more, or the parser's 1,024, is too deep."""
    from dagster_project.contract.events import MAX_NESTING

    def nested(levels: int) -> bytes:  # a payload `levels` deep: the object, then arrays
        inner = levels - 1
        return b'{"source_type":"email","x":' + b"[" * inner + b"]" * inner + b"}"

    quoted = b'{"source_type":"email","x":"' + b"[" * 2000 + b'"}'  # brackets in a string do not nest
    records = [
        _with_raw_payload("n1", nested(MAX_NESTING)),
        _with_raw_payload("n2", nested(MAX_NESTING + 1)),
        _with_raw_payload("n3", nested(1100)),
        _with_raw_payload("n4", quoted),
    ]
    verdicts = _same_in_every_format(_ingest_each_format(tmp_path, warehouse, now, records))
    assert verdicts == [None, Reason.TOO_DEEP, Reason.TOO_DEEP, None]
    stored = warehouse.execute("select payload from raw.events where event_id = 'n1'").fetchall()
    assert orjson.loads(stored[0][0])["x"] is not None, "the apply's parser reads what was accepted"


def test_numbers_that_overflow_are_quarantined_in_every_format(tmp_path: Path, warehouse, now):
    """An integer outside 64 bits or a number past a double's range; the edges themselves are fine."""
    from dagster_project.contract.events import MAX_INTEGER, MIN_INTEGER

    def with_x(event_id: str, number: bytes):
        return _with_raw_payload(event_id, b'{"source_type":"email","x":{"y":[' + number + b"]}}")

    records = [
        with_x("o1", b"1e400"),
        with_x("o2", b"-1.5E+309"),
        with_x("o3", str(MAX_INTEGER + 1).encode()),
        with_x("o4", str(MIN_INTEGER - 1).encode()),
        with_x("o5", b"1" * 400),
        with_x("o6", str(MAX_INTEGER).encode()),
        with_x("o7", str(MIN_INTEGER).encode()),
        with_x("o8", b"1.7976931348623157e308"),
        with_x("o9", b"1e-400"),
        with_x("o10", b'"12345678901234567890123456789e999"'),  # a string, not a number
        _with_raw_payload("o11", b'{"source_type":"email","urgency":1e400}'),
    ]
    verdicts = _same_in_every_format(_ingest_each_format(tmp_path, warehouse, now, records))
    assert verdicts == [Reason.NUMBER_OVERFLOW] * 5 + [None] * 5 + [Reason.NUMBER_OVERFLOW]
    for (payload,) in warehouse.execute("select payload from raw.events").fetchall():
        orjson.loads(payload)  # the apply's parser reads every accepted payload
