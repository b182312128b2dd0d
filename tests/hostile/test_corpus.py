"""Every case of the hostile-input corpus goes through the real ingest (one inbox, one run) and ends
as the contract and docs/security.md say: accepted, a duplicate, a quarantine reason, or not read."""

from __future__ import annotations

import csv
import gzip
import io
from collections import defaultdict
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dagster_project.contract.events import ENVELOPE_FIELDS
from dagster_project.ingestion.ingest import ingest_paths
from dagster_project.ingestion.readers import inbox_name, scan_inbox
from dagster_project.warehouse.store import connect, ensure_raw_schema
from tests.conftest import NOW
from tests.hostile.corpus import (
    ORGS,
    RECORD_FILES,
    SECRET_ORG,
    FileCase,
    RecordCase,
    _settle,
    dumps,
    file_cases,
    markdown_table,
    record_cases,
    write_outside,
)

RECORDS = record_cases()
FILES = file_cases()
DOC = Path(__file__).resolve().parents[2] / "docs" / "security.md"


def _tabular(case: RecordCase, org: str, n: int) -> dict[str, str | None]:
    record = case.record
    assert isinstance(record, dict)
    row = {}
    for name in ENVELOPE_FIELDS:
        value = record.get(name)
        if name == "payload" and value is not None:
            value = dumps(value).decode()
        row[name] = value
    row["org_id"] = org if row["org_id"] == "$org" else row["org_id"]
    row["event_id"] = f"r{n}" if row["event_id"] == "$id" else row["event_id"]
    return row


def _write_record_files(inbox: Path, cases: list[RecordCase]) -> dict[str, dict[RecordCase, int]]:
    """The record cases, one per line or row, in each format's file; per format, each case's record
    number."""
    numbers: dict[str, dict[RecordCase, int]] = {}
    for fmt in ("jsonl", "jsonl.gz"):
        data = b"".join(case.line(ORGS[fmt], n) + b"\n" for n, case in enumerate(cases, 1))
        (inbox / RECORD_FILES[fmt]).write_bytes(gzip.compress(data, mtime=0) if fmt == "jsonl.gz" else data)
        numbers[fmt] = {case: n for n, case in enumerate(cases, 1)}
    tabular = [(n, c) for n, c in enumerate(cases, 1) if c.tabular]
    if tabular:
        rows = [_tabular(c, ORGS["csv"], n) for n, c in tabular]
        text = io.StringIO(newline="")
        writer = csv.DictWriter(text, fieldnames=list(ENVELOPE_FIELDS))
        writer.writeheader()
        writer.writerows({k: "" if v is None else v for k, v in row.items()} for row in rows)
        (inbox / RECORD_FILES["csv"]).write_bytes(text.getvalue().encode())
        rows = [_tabular(c, ORGS["parquet"], n) for n, c in tabular]
        table = pa.table({f: pa.array([r[f] for r in rows], pa.string()) for f in ENVELOPE_FIELDS})
        pq.write_table(table, inbox / RECORD_FILES["parquet"])
        for fmt in ("csv", "parquet"):
            numbers[fmt] = {case: row for row, (_, case) in enumerate(tabular, 1)}
    for path in inbox.iterdir():
        _settle(path)
    return numbers


def _ingest(root: Path) -> dict:
    """Ingest `root`/inbox into a new warehouse, as the ingest asset does: what each file and record became."""
    inbox = root / "inbox"
    con = connect(root / "warehouse.duckdb")
    ensure_raw_schema(con)
    try:
        scan = scan_inbox(inbox)
        ingest_paths(con, scan.ready, now=NOW, inbox=inbox)
        ledger = {
            file: (status, lines, accepted + duplicates + quarantined)
            for file, status, lines, accepted, duplicates, quarantined in con.execute(
                "select file, status, lines, accepted, duplicates, quarantined from raw.ingest_ledger"
            ).fetchall()
        }
        lines: dict[str, dict[int, str]] = defaultdict(dict)
        for file, line in con.execute("select source_file, source_line from raw.events").fetchall():
            lines[file][line] = "accepted"
        for file, line, reason in con.execute("select file, line, reason from raw.quarantine").fetchall():
            lines[file][line] = reason
        secret = con.execute(
            "select count(*) from (select org_id from raw.events union all select org_id from raw.quarantine "
            "union all select raw from raw.quarantine) t(v) where v = $org or v like '%root:%'",
            {"org": SECRET_ORG},
        ).fetchone()[0]
    finally:
        con.close()
    return {"ledger": ledger, "lines": lines, "scan": scan, "secret": secret}


def _inbox(root: Path) -> Path:
    inbox = root / "inbox"
    inbox.mkdir(parents=True)
    write_outside(inbox)
    return inbox


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> dict:
    """The corpus through the real ingest: one run for every case whose outcome is settled, and a run
    of its own for each pending one (today some of those fail the whole run: the reason they are
    pending). Per case and format: its outcome."""
    root = tmp_path_factory.mktemp("hostile")
    outcomes: dict[tuple[object, str], str] = {}
    inbox = _inbox(root / "all")
    settled = [c for c in RECORDS if not c.pending]
    numbers = _write_record_files(inbox, settled)
    names = {case: inbox_name(case.write(inbox), inbox) for case in FILES if not (case.pending or case.alone)}
    result = _ingest(root / "all")
    for fmt, cases in numbers.items():
        for case, n in cases.items():
            outcomes[case, fmt] = result["lines"][RECORD_FILES[fmt]].get(n, "duplicate")
    for case, name in names.items():
        outcomes[case, "file"] = _file_outcome(result, name)
    pending = [(c, fmt) for c in RECORDS if c.pending for fmt in _record_formats(c)]
    pending += [(c, "file") for c in FILES if c.pending or c.alone]
    for i, (case, fmt) in enumerate(pending):
        inbox = _inbox(root / f"pending-{i}")
        if fmt == "file":
            name = inbox_name(case.write(inbox), inbox)
        else:
            n = _write_record_files(inbox, [case])[fmt][case]
            for other in set(RECORD_FILES.values()) - {RECORD_FILES[fmt]}:
                (inbox / other).unlink(missing_ok=True)
        try:
            alone = _ingest(root / f"pending-{i}")
        except Exception as exc:  # noqa: BLE001 - the outcome of a case that fails the run today
            outcomes[case, fmt] = f"the run fails ({type(exc).__name__}: {exc})"
            continue
        outcomes[case, fmt] = (
            _file_outcome(alone, name)
            if fmt == "file"
            else alone["lines"][RECORD_FILES[fmt]].get(n, "duplicate")
        )
    return {"outcomes": outcomes, **result}


def _file_outcome(run: dict, name: str) -> str:
    if name not in run["ledger"]:
        return "skipped"
    status, count, _ = run["ledger"][name]
    outcomes = run["lines"][name]
    if status != "ok":
        return outcomes[0]
    if count == 0:
        return "empty"
    return "+".join(sorted({outcomes.get(n, "duplicate") for n in range(1, count + 1)}))


def _matches(outcome: str, expected: str) -> bool:
    known = ("accepted", "duplicate", "skipped", "empty")
    return outcome == expected or (expected == "quarantined" and "+" not in outcome and outcome not in known)


def _params(cases, formats):
    out = []
    for case in cases:
        for fmt in formats(case):
            marks = [pytest.mark.xfail(strict=True, reason=case.pending)] if case.pending else []
            out.append(pytest.param(case, fmt, id=f"{fmt}|{case.category}|{case.name}"[:120], marks=marks))
    return out


def _record_formats(case: RecordCase) -> list[str]:
    return ["jsonl", "jsonl.gz", *(["csv", "parquet"] if case.tabular else [])]


def test_the_corpus_holds_hundreds_of_cases_with_unique_names():
    keys = [(c.category, c.name) for c in RECORDS] + [(c.category, c.name) for c in FILES]
    assert len(set(keys)) == len(keys)
    assert sum(len(_record_formats(c)) for c in RECORDS) + len(FILES) >= 500


@pytest.mark.parametrize(("case", "fmt"), _params(RECORDS, _record_formats))
def test_a_hostile_record_ends_as_the_corpus_says(run, case: RecordCase, fmt: str):
    outcome = run["outcomes"][case, fmt]
    expected = {"csv": case.csv, "parquet": case.parquet}.get(fmt) or case.expected
    assert _matches(outcome, expected), f"{case.name!r} in {fmt}: {outcome}, expected {expected}"


@pytest.mark.parametrize(("case", "fmt"), _params(FILES, lambda case: ["file"]))
def test_a_hostile_inbox_entry_ends_as_the_corpus_says(run, case: FileCase, fmt: str):
    outcome = run["outcomes"][case, fmt]
    assert _matches(outcome, case.expected), f"{case.name!r}: {outcome}, expected {case.expected}"


def test_every_file_read_balances_its_ledger_row(run):
    assert {name: lines == total for name, (_, lines, total) in run["ledger"].items()} == dict.fromkeys(
        run["ledger"], True
    )


def test_nothing_from_outside_the_inbox_reaches_the_warehouse(run):
    assert run["secret"] == 0
    passed_over = {name for name, _ in run["scan"].passed_over}
    assert {"to-secret.jsonl", "passwd.jsonl", "to-outside", "dangling.jsonl", "pipe.jsonl"} <= passed_over


def test_docs_security_shows_every_case_and_its_outcome():
    assert markdown_table(RECORDS, FILES) in DOC.read_text(encoding="utf-8"), (
        "regenerate the table: python -m tests.hostile.corpus"
    )
