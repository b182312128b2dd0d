"""The event log's stable key hash: what the duplicate check finds stored keys by.

The check must judge exactly as it did when it joined the log by the two key strings: the same event
again is a duplicate, another content under the same key a conflict, in one batch, across batches, across
files; an older warehouse gets the column filled; a hash collision is never taken for the same key.
"""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dagster_project.contract.events import Reason
from dagster_project.ingestion.ingest import ingest_paths
from dagster_project.warehouse.store import connect, ensure_raw_schema
from tests.events_factory import event, write_csv, write_jsonl, write_parquet


def _python_key_hash(org_id: str, event_id: str) -> int:
    """The documented definition, computed without DuckDB."""
    digest = hashlib.md5(f"{org_id}\x1f{event_id}".encode()).digest()  # noqa: S324 - a key hash, not security
    return int.from_bytes(digest[:8], "big")


def _old_warehouse(path: Path) -> None:
    """A warehouse as ingests wrote it before the key hash existed: the same log without the column."""
    con = connect(path)
    ensure_raw_schema(con)
    con.execute("alter table raw.events drop column key_hash")
    con.close()


def test_every_stored_event_carries_the_md5_key_hash_python_computes(tmp_path: Path, warehouse, now):
    records = [event("e1"), event("é-ünïcode"), event("e1", org_id="globex"), event("x" * 128)]
    ingest_paths(warehouse, [write_jsonl(tmp_path / "a.jsonl", records)], now=now)
    stored = warehouse.execute("select org_id, event_id, key_hash from raw.events").fetchall()
    assert len(stored) == 4
    assert all(key_hash == _python_key_hash(org, eid) for org, eid, key_hash in stored)


def test_an_old_warehouse_gets_the_column_filled_and_its_events_found_as_duplicates(tmp_path: Path, now):
    path = tmp_path / "old.duckdb"
    _old_warehouse(path)
    con = connect(path)
    con.execute(
        """insert into raw.events values ('acme', 'e1', '2026-10-05 14:14:03.12+00', 'signal.created',
           'signal', 'sig-1', 'ann@acme.test', '{"source_type": "email", "urgency": 0.5}', 'h1',
           '2026-10-06 00:00:00+00', 'older.jsonl', 1)"""
    )
    conflict = event("e1", payload={"source_type": "web"})
    drop = write_jsonl(tmp_path / "b.jsonl", [event("e1"), conflict, event("e2")])
    (result,) = ingest_paths(con, [drop], now=now).files
    assert (result.accepted, result.duplicates, result.quarantined) == (1, 1, 1)
    assert con.execute("select line, reason from raw.quarantine").fetchall() == [
        (2, Reason.CONFLICTING_DUPLICATE)
    ]
    stored = con.execute("select org_id, event_id, key_hash from raw.events order by event_id").fetchall()
    assert stored == [(o, e, _python_key_hash(o, e)) for o, e in (("acme", "e1"), ("acme", "e2"))]
    con.close()


def test_a_row_written_without_its_hash_is_still_found_by_the_next_ingest(tmp_path: Path, warehouse, now):
    warehouse.execute(
        """insert into raw.events (org_id, event_id, occurred_at, event_name, entity_type, entity_id, actor,
               payload, content_hash, ingested_at, source_file, source_line)
           values ('acme', 'e1', '2026-10-05 14:14:03.12+00', 'signal.created', 'signal', 'sig-1',
               'ann@acme.test', '{"source_type": "email", "urgency": 0.5}', 'h1', '2026-10-06 00:00:00+00',
               'fixture.jsonl', 1)"""
    )
    (result,) = ingest_paths(warehouse, [write_jsonl(tmp_path / "a.jsonl", [event("e1")])], now=now).files
    assert (result.accepted, result.duplicates, result.quarantined) == (0, 1, 0)


def test_a_stored_event_whose_hash_collides_with_a_new_key_is_not_its_duplicate(
    tmp_path: Path, warehouse, now
):
    ingest_paths(warehouse, [write_jsonl(tmp_path / "a.jsonl", [event("e1")])], now=now)
    # MD5 collisions on 64 bits are too rare to find: give the stored event the new key's hash instead.
    warehouse.execute("update raw.events set key_hash = ?", [_python_key_hash("acme", "other")])
    newcomer = event("other", payload={"source_type": "web"})
    (result,) = ingest_paths(warehouse, [write_jsonl(tmp_path / "b.jsonl", [newcomer])], now=now).files
    assert (result.accepted, result.duplicates, result.quarantined) == (1, 0, 0)
    assert warehouse.execute("select count(*) from raw.quarantine").fetchone() == (0,)


# A record: its key (org, event id) and its content (urgency, and whether the payload's keys come in the
# other order: the same content, a different quick hash). Few keys and contents, so keys repeat a lot.
_RECORD = st.tuples(
    st.sampled_from(["acme", "globex"]),
    st.sampled_from(["a", "b", "c", "d", "e"]),
    st.sampled_from([0.1, 0.5]),
    st.booleans(),
)
_FILE = st.tuples(st.sampled_from(["jsonl", "csv"]), st.lists(_RECORD, min_size=1, max_size=12))


def _record(org: str, event_id: str, urgency: float, reordered: bool) -> dict:
    payload = (
        {"urgency": urgency, "source_type": "email"}
        if reordered
        else {"source_type": "email", "urgency": urgency}
    )
    return event(event_id, org_id=org, payload=payload)


def _first_accepted_wins(
    files: list[tuple[str, list]], tmp: Path
) -> tuple[list[Path], list[tuple], dict[tuple[str, str], float]]:
    """Write the files; what each should count, and the log's first version of each key, by the rule
    itself: the first content of a key is kept, the same content again is a duplicate, another content
    a conflict, and a file whose bytes were already dropped is skipped."""
    writers = {"jsonl": write_jsonl, "csv": write_csv, "parquet": write_parquet}
    accepted: dict[tuple[str, str], float] = {}
    seen_files: set[bytes] = set()
    paths, expected = [], []
    for n, (fmt, records) in enumerate(files):
        path = writers[fmt](tmp / f"f{n}.{fmt}", [_record(*r) for r in records])
        paths.append(path)
        if path.read_bytes() in seen_files:
            expected.append(("skipped", 0, 0, 0))
            continue
        seen_files.add(path.read_bytes())
        counts = [0, 0, 0]
        for org, event_id, urgency, _reordered in records:
            key = (org, event_id)
            if key not in accepted:
                accepted[key] = urgency
                counts[0] += 1
            else:
                counts[1 if accepted[key] == urgency else 2] += 1
        expected.append(("ok", *counts))
    return paths, expected, accepted


_LOG = "select org_id, event_id, (payload->>'urgency')::double from raw.events"


@pytest.mark.slow  # seconds: many ingests per example
@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(files=st.lists(_FILE, min_size=1, max_size=4))
def test_verdicts_match_first_accepted_wins_across_batches_and_files(files, now) -> None:
    """The log keeps the first version of each key; the same content again is a duplicate, another
    content a conflict; a file dropped twice is skipped. CSV files are read in batches of four."""
    from dagster_project.ingestion import batches

    with tempfile.TemporaryDirectory() as tmp, pytest.MonkeyPatch.context() as patch:
        patch.setattr(batches, "BATCH_RECORDS", 4)
        paths, expected, accepted = _first_accepted_wins(files, Path(tmp))
        con = connect(Path(tmp) / "w.duckdb")
        try:
            report = ingest_paths(con, paths, now=now)
            stored = con.execute(_LOG).fetchall()
        finally:
            con.close()
    assert [(f.status, f.accepted, f.duplicates, f.quarantined) for f in report.files] == expected
    assert sorted(stored) == sorted((org, eid, urgency) for (org, eid), urgency in accepted.items())


# Files of every format, each dropped in a run of its own or in the run of the file before it.
_RUN_FILE = st.tuples(
    st.sampled_from(["jsonl", "csv", "parquet"]), st.lists(_RECORD, min_size=1, max_size=12)
)


@pytest.mark.slow  # seconds: many ingests per example
@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    files=st.lists(_RUN_FILE, min_size=2, max_size=5), cuts=st.lists(st.booleans(), min_size=3, max_size=3)
)
def test_verdicts_match_first_accepted_wins_across_runs(files, cuts, now) -> None:
    """Files ingested over several runs, each run on a warehouse connection of its own (as `workstream
    run` and `serve` open it), judge every key against what the earlier runs stored exactly as one run
    would: a duplicate or a conflict is found in the stored log, whatever the format and the batch."""
    from dagster_project.ingestion import batches

    with tempfile.TemporaryDirectory() as tmp, pytest.MonkeyPatch.context() as patch:
        patch.setattr(batches, "BATCH_RECORDS", 4)
        paths, expected, accepted = _first_accepted_wins(files, Path(tmp))
        # the first file in a run of its own, so every example spans at least two runs
        runs: list[list[Path]] = [[paths[0]], [paths[1]]]
        for path, new_run in zip(paths[2:], cuts, strict=False):
            if new_run:
                runs.append([])
            runs[-1].append(path)
        results = []
        for run in runs:
            con = connect(Path(tmp) / "w.duckdb")
            try:
                results.extend(ingest_paths(con, run, now=now).files)
            finally:
                con.close()
        con = connect(Path(tmp) / "w.duckdb", read_only=True)
        try:
            stored = con.execute(_LOG).fetchall()
        finally:
            con.close()
    assert [(f.status, f.accepted, f.duplicates, f.quarantined) for f in results] == expected
    assert sorted(stored) == sorted((org, eid, urgency) for (org, eid), urgency in accepted.items())
