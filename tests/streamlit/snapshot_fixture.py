"""A small, realistic `serving.duckdb` for dashboard tests, so they need no pipeline run.

Two orgs with different shapes (acme: 5 days, 4 event types; globex: 7 days, 3 event types), every
funnel pair, quarantine rows including unattributed ones (org unreadable) in an acme-only file, a
file shared by both orgs and a wholly unreadable file, and a ledger where every (file, org) row and
every file balances. Ledger `accepted` per org equals the org's events, as in a real publish.
Org-specific strings (file names, raw text) are distinct so tenancy tests can search for them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import duckdb

from dagster_project.contract import FUNNEL_STAGE_PAIRS

UTC = dt.UTC
BUILT_AT = dt.datetime(2024, 5, 10, 0, 0, tzinfo=UTC)
PUBLISHED_AT = dt.datetime(2024, 5, 10, 0, 1, 30, tzinfo=UTC)

ORG_A = "acme"
ORG_B = "globex"

# Strings that may only ever appear when their own org is selected.
ORG_A_ONLY = ("acme-2024-05-01.jsonl", "ACME-ONLY-RAW", "acme-detail-marker", "ACME-UNATTRIBUTED-RAW")
ORG_B_ONLY = ("globex-crm-export.csv", "GLOBEX-ONLY-RAW", "globex-bad-name")
SHARED_FILE = "shared-batch.parquet"
UNREADABLE_FILE = "corrupt-upload.jsonl.gz"
UNREADABLE_RAW = "UNREADABLE-RAW-BYTES"
# Raw text of an unattributed line in the shared file: never shown to either org.
SHARED_UNATTRIBUTED_RAW = "SHARED-UNATTRIBUTED-RAW"
ACME_UNATTRIBUTED_RAW = "ACME-UNATTRIBUTED-RAW {not json"

# (event_name, entity_type) -> events per day, one list entry per day from the org's start date.
_VOLUME: dict[str, tuple[dt.date, dict[tuple[str, str], list[int]]]] = {
    ORG_A: (
        dt.date(2024, 5, 1),
        {
            ("signal.created", "signal"): [12, 9, 15, 7, 11],
            ("candidate.created", "candidate"): [3, 2, 4, 0, 3],
            ("pursuit.stage_changed", "pursuit"): [1, 0, 2, 3, 1],
            ("client.updated", "client"): [2, 1, 0, 1, 0],
        },
    ),
    ORG_B: (
        dt.date(2024, 5, 3),
        {
            ("signal.created", "signal"): [30, 28, 41, 35, 22, 18, 26],
            ("signal.touched", "signal"): [20, 19, 30, 25, 17, 12, 20],
            ("config.changed", "org"): [1, 0, 0, 0, 0, 0, 1],
        },
    ),
}

FUNNEL_PAIRS = FUNNEL_STAGE_PAIRS
# (entered, converted, median_hours, p90_hours) per pair, in FUNNEL_PAIRS order.
_FUNNEL: dict[str, list[tuple[int, int, float | None, float | None]]] = {
    ORG_A: [
        (54, 12, 20.5, 61.0),
        (12, 5, 96.0, 210.0),
        (5, 4, 48.0, 100.0),
        (4, 3, 72.0, 130.0),
        (3, 2, 120.0, 200.0),
        (2, 1, 240.0, 240.0),
        (5, 1, 30.0, 30.0),
        (4, 0, None, None),
        (3, 1, 150.0, 150.0),
        (2, 1, 300.0, 300.0),
    ],
    ORG_B: [
        (200, 80, 6.0, 30.0),
        (80, 10, 50.0, 120.0),
        (10, 7, 24.0, 60.0),
        (7, 6, 36.0, 80.0),
        (6, 5, 90.0, 160.0),
        (5, 3, 200.0, 260.0),
        (10, 2, 40.0, 70.0),
        (7, 1, 55.0, 55.0),
        (6, 1, 99.0, 99.0),
        (5, 2, 180.0, 220.0),
    ],
}


@dataclass(frozen=True)
class OrgExpectations:
    """What the dashboard should show for one org with no filters."""

    events: int
    event_types: int
    first_date: dt.date
    last_date: dt.date
    quarantined: int
    files: int


def expected(org_id: str) -> OrgExpectations:
    """Expected headline numbers for an org in the snapshot written by `build_snapshot`."""
    start, series = _VOLUME[org_id]
    days = max(len(v) for v in series.values())
    ledger = [row for row in _ledger_by_org() if row[2] == org_id]
    return OrgExpectations(
        events=sum(sum(v) for v in series.values()),
        event_types=len(series),
        first_date=start,
        last_date=start + dt.timedelta(days=days - 1),
        quarantined=sum(row[6] for row in ledger),
        files=len(ledger),
    )


def _ledger_by_org() -> list[tuple]:
    """(content_hash, file, org_id, lines, accepted, duplicates, quarantined); accepted sums to events."""
    a_events = sum(sum(v) for v in _VOLUME[ORG_A][1].values())
    b_events = sum(sum(v) for v in _VOLUME[ORG_B][1].values())
    a_shared, b_shared = 10, 25
    return [
        # acme's own upload: 2 duplicates, 3 quarantined, plus 1 line whose org could not be read.
        ("h-acme", ORG_A_ONLY[0], ORG_A, a_events - a_shared + 2 + 3, a_events - a_shared, 2, 3),
        ("h-acme", ORG_A_ONLY[0], None, 1, 0, 0, 1),
        # globex's CRM export: 1 duplicate, 2 quarantined.
        ("h-globex", ORG_B_ONLY[0], ORG_B, b_events - b_shared + 1 + 2, b_events - b_shared, 1, 2),
        # A batch holding both orgs and one unattributed line.
        ("h-shared", SHARED_FILE, ORG_A, a_shared, a_shared, 0, 0),
        ("h-shared", SHARED_FILE, ORG_B, b_shared + 1, b_shared, 0, 1),
        ("h-shared", SHARED_FILE, None, 1, 0, 0, 1),
        # A file that could not be read at all: ledger lines 0, one quarantine row at line 0.
        ("h-corrupt", UNREADABLE_FILE, None, 0, 0, 0, 0),
    ]


def _quarantine() -> list[tuple]:
    """(content_hash, file, line, reason, detail, raw, org_id, event_id, quarantined_at)."""
    t = dt.datetime(2024, 5, 6, 8, 0, tzinfo=UTC)
    long_raw = '{"org_id": "acme", "event_id": "e-77", "payload": "' + "x" * 400 + '"} ACME-ONLY-RAW'
    return [
        (
            "h-acme",
            ORG_A_ONLY[0],
            4,
            "bad_json",
            "expected a JSON object",
            "ACME-ONLY-RAW [1, 2",
            ORG_A,
            None,
            t,
        ),
        ("h-acme", ORG_A_ONLY[0], 9, "bad_json", "trailing characters", long_raw, ORG_A, "e-77", t),
        (
            "h-acme",
            ORG_A_ONLY[0],
            17,
            "missing_field",
            "acme-detail-marker: payload.title is required",
            '{"org_id": "acme", "event_id": "e-90", "event_name": "candidate.created", "ACME-ONLY-RAW": 1}',
            ORG_A,
            "e-90",
            t,
        ),
        ("h-acme", ORG_A_ONLY[0], 21, "bad_org_id", "org_id missing", ACME_UNATTRIBUTED_RAW, None, None, t),
        (
            "h-globex",
            ORG_B_ONLY[0],
            3,
            "unknown_event",
            "globex-bad-name: signal.exploded is not an event",
            "GLOBEX-ONLY-RAW,signal.exploded",
            ORG_B,
            "g-3",
            t,
        ),
        (
            "h-globex",
            ORG_B_ONLY[0],
            8,
            "naive_timestamp",
            "no offset",
            "GLOBEX-ONLY-RAW,2024-05-04 10:00",
            ORG_B,
            "g-8",
            t,
        ),
        (
            "h-shared",
            SHARED_FILE,
            31,
            "unknown_event",
            "globex-bad-name again",
            "GLOBEX-ONLY-RAW row 31",
            ORG_B,
            "g-31",
            t,
        ),
        (
            "h-shared",
            SHARED_FILE,
            40,
            "bad_org_id",
            "org_id 'Not Valid!'",
            SHARED_UNATTRIBUTED_RAW,
            None,
            None,
            t,
        ),
        (
            "h-corrupt",
            UNREADABLE_FILE,
            0,
            "unreadable_file",
            "not a gzip file",
            UNREADABLE_RAW,
            None,
            None,
            t,
        ),
    ]


_DDL = """
CREATE SCHEMA marts;
CREATE TABLE marts.snapshot_info (
    snapshot_version VARCHAR, built_at TIMESTAMPTZ, published_at TIMESTAMPTZ, events BIGINT);
CREATE TABLE marts.event_volume_daily (
    org_id VARCHAR, event_date DATE, event_name VARCHAR, entity_type VARCHAR, events BIGINT);
CREATE TABLE marts.funnel_velocity (
    org_id VARCHAR, from_stage VARCHAR, to_stage VARCHAR, pair_order INTEGER, entered BIGINT,
    converted BIGINT, conversion_rate DOUBLE, median_hours DOUBLE, p90_hours DOUBLE, built_at TIMESTAMPTZ);
CREATE TABLE marts.quarantine (
    content_hash VARCHAR, file VARCHAR, line BIGINT, reason VARCHAR, detail VARCHAR, raw VARCHAR,
    org_id VARCHAR, event_id VARCHAR, quarantined_at TIMESTAMPTZ);
CREATE TABLE marts.ingest_ledger (
    content_hash VARCHAR, file VARCHAR, format VARCHAR, lines BIGINT, accepted BIGINT, duplicates BIGINT,
    quarantined BIGINT, org_id VARCHAR, status VARCHAR, ingested_at TIMESTAMPTZ);
CREATE TABLE marts.ingest_ledger_by_org (
    content_hash VARCHAR, file VARCHAR, org_id VARCHAR, lines BIGINT, accepted BIGINT, duplicates BIGINT,
    quarantined BIGINT);
"""

_FORMATS = {"h-acme": "jsonl", "h-globex": "csv", "h-shared": "parquet", "h-corrupt": "jsonl.gz"}


def _insert(con: duckdb.DuckDBPyConnection, table: str, rows: list[tuple]) -> None:
    # One multi-row INSERT per table: row-by-row inserts made every test pay ~0.5 s per snapshot.
    if not rows:
        return
    row_marks = "(" + ", ".join("?" * len(rows[0])) + ")"
    con.execute(
        f"INSERT INTO {table} VALUES " + ", ".join([row_marks] * len(rows)), [v for r in rows for v in r]
    )


def build_snapshot(path: Path, *, empty: bool = False, version: str = "20240510T000000Z-test") -> Path:
    """Write a snapshot to `path` (replacing any file there) and return the path.

    `empty=True` writes the same tables with no rows and `events = 0`, as a first publish over an
    empty inbox would.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".building")
    tmp.unlink(missing_ok=True)
    with duckdb.connect(str(tmp)) as con:
        con.execute("SET TimeZone = 'UTC'")
        con.execute(_DDL)
        total = 0
        if not empty:
            volume = [
                (org_id, start + dt.timedelta(days=offset), name, entity_type, n)
                for org_id, (start, series) in _VOLUME.items()
                for (name, entity_type), counts in series.items()
                for offset, n in enumerate(counts)
            ]
            total = sum(row[-1] for row in volume)
            _insert(con, "marts.event_volume_daily", volume)
            funnel = [
                (
                    org_id,
                    from_stage,
                    to_stage,
                    order,
                    entered,
                    converted,
                    converted / entered if entered else None,
                    med,
                    p90,
                    BUILT_AT,
                )
                for org_id, rows in _FUNNEL.items()
                for order, ((from_stage, to_stage), (entered, converted, med, p90)) in enumerate(
                    zip(FUNNEL_PAIRS, rows, strict=True), start=1
                )
            ]
            _insert(con, "marts.funnel_velocity", funnel)
            _insert(con, "marts.quarantine", _quarantine())
            by_org = _ledger_by_org()
            _insert(con, "marts.ingest_ledger_by_org", by_org)
            ledger = []
            for n, content_hash in enumerate(_FORMATS):
                rows = [r for r in by_org if r[0] == content_hash]
                orgs = {r[2] for r in rows if r[2] is not None}
                ledger.append(
                    (
                        content_hash,
                        rows[0][1],
                        _FORMATS[content_hash],
                        sum(r[3] for r in rows),
                        sum(r[4] for r in rows),
                        sum(r[5] for r in rows),
                        sum(r[6] for r in rows),
                        next(iter(orgs)) if len(orgs) == 1 else None,
                        "unreadable" if content_hash == "h-corrupt" else "ok",
                        dt.datetime(2024, 5, 9, 12, n, tzinfo=UTC),
                    )
                )
            _insert(con, "marts.ingest_ledger", ledger)
        _insert(con, "marts.snapshot_info", [(version, BUILT_AT, PUBLISHED_AT, total)])
    # Publish like the pipeline does: a complete file swapped in atomically.
    tmp.replace(path)
    return path
