"""A small, realistic `serving.duckdb` for dashboard tests, so they need no pipeline run.

Two orgs with different shapes (acme: 5 days, 4 event types; globex: 7 days, 3 event types), every
funnel pair, quarantine rows including unattributed ones (org unreadable) in an acme-only file, a
file shared by both orgs and a wholly unreadable file, and a ledger where every (file, org) row and
every file balances. Ledger `accepted` per org equals the org's events, as in a real publish.
Org-specific strings (file names, raw text) are distinct so tenancy tests can search for them.

The lifecycle and outbox marts (signals, candidates, pursuits, clients, transitions, rejected_events,
events, gate_pass_rates, win_loss, outbox_health, dead_letters) hold a few hand-made rows per org.
Both orgs have a pursuit with the same id (`SHARED_ENTITY_ID`), acme's with an applied, a rejected
and a warned stage change, so a timeline that ignores the org would mix them.

`gate_attempts` and `funnel_stage_entries` hold the rows behind `gate_pass_rates` and the headline pairs
of `funnel_velocity` (signal → candidate, candidate → promoted, submit → won), all before the as-of
time, so a period holding all the data shows the same numbers as those marts.

The work marts (today_panel, owner_workload, sla_clocks, sla_breaches, sla_compliance_summary,
sla_compliance_weekly, pipeline_health, win_rate_monthly, alerts) hold a few consistent rows per org:
owner_workload sums the org's panel rows, the weekly SLA rows and the eligible clocks sum to the
summary, and both orgs have
a red-badged pursuit `p-100` with an open breach and an alert. `ORG_*_WORK_ONLY` strings (labels,
tags, alert errors) name their org.

The memory marts (memory_atoms, memory_cards with client roll-ups, and the search index
memory_search built by the pipeline's `build_index`) hold a few atoms per org; `ORG_*_MEMORY_ONLY`
strings name their org, and both orgs share an atom id and the word "pricing".
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

import duckdb

from dagster_project.contract.events import FUNNEL_STAGE_PAIRS
from dagster_project.memory.search import build_index
from tests.snapshot_schema import create_tables, insert_rows, table_schema

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


# ----------------------------------------------------------------------------- lifecycle and outbox
# Hand-made lifecycle rows. Both orgs have a pursuit `p-100` (ids are only unique within an org), so
# the timeline must scope by org as well as by id. Owners, titles and errors name their org.
SHARED_ENTITY_ID = "p-100"
# Owners first, by the names pages show for them (`_USERS`), then their ids.
ORG_A_LIFECYCLE_ONLY = (
    "Alice Archer",
    "Bob Baker",
    "alice@acme",
    "bob@acme",
    "Acme HQ refit",
    "acme-crm webhook timeout",
    "sig-a1",
)
ORG_B_LIFECYCLE_ONLY = (
    "Gina Green",
    "hank@globex",
    "gina@globex",
    "Globex plant audit",
    "globex-crm 401",
    "sig-g1",
)


def _ts(day: int, hour: int = 9, minute: int = 0) -> dt.datetime:
    return dt.datetime(2024, 5, day, hour, minute, tzinfo=UTC)


# (org_id, signal_id, status, owner, source_type, created_at, first_touched_at, dismissed_at, linked_at,
#  linked_candidate_id, linked_candidate_ids, entered_state_at, last_event_at)
# The company a signal's sender named, where one did (`company_name`, the last column).
SIGNAL_COMPANIES = {"sig-a2": "Initrode Ltd"}
_SIGNALS = [
    (ORG_A, "sig-a1", "open", "alice@acme", "web", _ts(1), None, None, None, None, [], _ts(1), _ts(1)),
    (ORG_A, "sig-a2", "touched", "alice@acme", "email", _ts(1), _ts(2), None, None, None, [], _ts(2), _ts(2)),
    (
        ORG_A,
        "sig-a3",
        "linked",
        "bob@acme",
        "web",
        _ts(1),
        _ts(1, 12),
        None,
        _ts(2),
        "cand-a1",
        ["cand-a1"],
        _ts(2),
        _ts(2),
    ),
    (ORG_A, "sig-a4", "dismissed", None, "event", _ts(2), None, _ts(3), None, None, [], _ts(3), _ts(3)),
    (ORG_B, "sig-g1", "open", "gina@globex", "web", _ts(3), None, None, None, None, [], _ts(3), _ts(3)),
    (ORG_B, "sig-g2", "open", "gina@globex", "web", _ts(4), None, None, None, None, [], _ts(4), _ts(4)),
    (
        ORG_B,
        "sig-g3",
        "linked",
        "hank@globex",
        "referral",
        _ts(3),
        _ts(3),
        None,
        _ts(4),
        "cand-g1",
        ["cand-g1"],
        _ts(4),
        _ts(4),
    ),
]

# (org_id, candidate_id, status, owner, title, client_id, value_band, tags, signal_ids, pursuit_id,
#  entered_state_at, created_at, last_event_at)
_CANDIDATES = [
    (
        ORG_A,
        "cand-a1",
        "promoted",
        "bob@acme",
        "Acme HQ refit",
        "cli-a1",
        "large",
        ["hq"],
        ["sig-a3"],
        SHARED_ENTITY_ID,
        _ts(2, 10),
        _ts(2),
        _ts(2, 10),
    ),
    (
        ORG_A,
        "cand-a2",
        "triaged",
        "alice@acme",
        "Acme data centre",
        "cli-a1",
        "medium",
        [],
        [],
        None,
        _ts(3),
        _ts(2),
        _ts(6),
    ),
    (ORG_A, "cand-a3", "new", None, "Acme canteen", None, None, [], [], None, _ts(4), _ts(4), _ts(4)),
    (
        ORG_B,
        "cand-g1",
        "promoted",
        "hank@globex",
        "Globex plant audit",
        "cli-g1",
        "large",
        [],
        ["sig-g3"],
        SHARED_ENTITY_ID,
        _ts(4, 10),
        _ts(4),
        _ts(4, 10),
    ),
]

# Pursuits: only the columns the dashboard reads are varied; the rest get plausible constants.
# (org_id, pursuit_id, candidate_id, stage, owner, client_id, forecast_value_usd, outcome, reason_code,
#  missing_reason, entered_state_at, created_at, closed_at)
_PURSUITS = [
    (
        ORG_A,
        SHARED_ENTITY_ID,
        "cand-a1",
        "red",
        "bob@acme",
        "cli-a1",
        400_000.0,
        None,
        None,
        None,
        _ts(5, 11),
        _ts(2, 10),
        None,
    ),
    (
        ORG_A,
        "p-a2",
        "cand-a9",
        "won",
        "alice@acme",
        "cli-a1",
        250_000.0,
        "won",
        "price",
        False,
        _ts(7),
        _ts(1),
        _ts(7),
    ),
    (
        ORG_A,
        "p-a3",
        "cand-a8",
        "lost",
        "bob@acme",
        "cli-a2",
        120_000.0,
        "lost",
        None,
        True,
        _ts(8),
        _ts(1),
        _ts(8),
    ),
    (ORG_A, "p-a4", "cand-a7", "lost", None, None, None, "lost", "competitor", False, _ts(8), _ts(2), _ts(8)),
    (
        ORG_B,
        SHARED_ENTITY_ID,
        "cand-g1",
        "submit",
        "hank@globex",
        "cli-g1",
        90_000.0,
        None,
        None,
        None,
        _ts(8),
        _ts(4, 10),
        None,
    ),
    (
        ORG_B,
        "p-g2",
        "cand-g9",
        "lost",
        "gina@globex",
        "cli-g1",
        80_000.0,
        "lost",
        "competitor",
        False,
        _ts(9),
        _ts(3),
        _ts(9),
    ),
]

_CLIENTS = [
    (ORG_A, "cli-a1", "Acme Holdings", "acme.example", "manufacturing", _ts(1), _ts(6)),
    (ORG_A, "cli-a2", "Acme Subsidiary", "sub.acme.example", None, _ts(1), _ts(1)),
    (ORG_B, "cli-g1", "Globex Corp", "globex.example", "energy", _ts(3), _ts(9)),
]

# (org_id, entity_type, entity_id, from_state, to_state, occurred_at, event_id, warned)
_TRANSITIONS = [
    (ORG_A, "signal", "sig-a3", "open", "linked", _ts(2), "e-a02", False),
    (ORG_A, "candidate", "cand-a1", None, "new", _ts(2), "e-a02", False),
    (ORG_A, "candidate", "cand-a1", "new", "promoted", _ts(2, 10), "e-a10", False),
    # acme p-100: created by the promotion, pink applied, red rejected once, then applied with a warning.
    (ORG_A, "pursuit", SHARED_ENTITY_ID, None, "qual", _ts(2, 10), "e-a10", False),
    (ORG_A, "pursuit", SHARED_ENTITY_ID, "qual", "pink", _ts(3), "e-a11", False),
    (ORG_A, "pursuit", SHARED_ENTITY_ID, "pink", "red", _ts(5, 11), "e-a13", True),
    (ORG_B, "candidate", "cand-g1", None, "new", _ts(4), "g-e02", False),
    (ORG_B, "candidate", "cand-g1", "new", "promoted", _ts(4, 10), "g-e10", False),
    (ORG_B, "pursuit", SHARED_ENTITY_ID, None, "qual", _ts(4, 10), "g-e10", False),
    (ORG_B, "pursuit", SHARED_ENTITY_ID, "qual", "submit", _ts(8), "g-e11", False),
]

# (org_id, event_id, event_name, entity_type, entity_id, occurred_at, rule, detail, outcome)
_REJECTED = [
    (
        ORG_A,
        "e-a12",
        "pursuit.stage_changed",
        "pursuit",
        SHARED_ENTITY_ID,
        _ts(4),
        "gate:pink_incomplete",
        "acme pink checklist missing: pricing_review",
        "rejected",
    ),
    (
        ORG_A,
        "e-a13",
        "pursuit.stage_changed",
        "pursuit",
        SHARED_ENTITY_ID,
        _ts(5, 11),
        "gate:pink_incomplete",
        "acme pink checklist missing: exec_summary (gate_mode=warn)",
        "warned",
    ),
    (
        ORG_A,
        "e-a20",
        "candidate.status_changed",
        "candidate",
        "cand-a2",
        _ts(6),
        "illegal_transition",
        "acme triaged → promoted is not allowed",
        "rejected",
    ),
    (
        ORG_B,
        "g-e12",
        "pursuit.stage_changed",
        "pursuit",
        SHARED_ENTITY_ID,
        _ts(6),
        "gate:no_sent_proposal",
        "globex-proposal-77 was never sent",
        "rejected",
    ),
]

# (org_id, event_id, occurred_at, event_name, entity_type, entity_id, actor)
_EVENTS = [
    (ORG_A, "e-a02", _ts(2), "candidate.created", "candidate", "cand-a1", "bob@acme"),
    (ORG_A, "e-a10", _ts(2, 10), "candidate.promoted", "candidate", "cand-a1", "bob@acme"),
    (ORG_A, "e-a11", _ts(3), "pursuit.stage_changed", "pursuit", SHARED_ENTITY_ID, "bob@acme"),
    (ORG_A, "e-a12", _ts(4), "pursuit.stage_changed", "pursuit", SHARED_ENTITY_ID, "bob@acme"),
    (ORG_A, "e-a13", _ts(5, 11), "pursuit.stage_changed", "pursuit", SHARED_ENTITY_ID, "bob@acme"),
    (ORG_A, "e-a14", _ts(6), "pursuit.note_added", "pursuit", SHARED_ENTITY_ID, None),
    (ORG_A, "e-a20", _ts(6), "candidate.status_changed", "candidate", "cand-a2", "alice@acme"),
    (ORG_B, "g-e02", _ts(4), "candidate.created", "candidate", "cand-g1", "hank@globex"),
    (ORG_B, "g-e10", _ts(4, 10), "candidate.promoted", "candidate", "cand-g1", "hank@globex"),
    (ORG_B, "g-e11", _ts(8), "pursuit.stage_changed", "pursuit", SHARED_ENTITY_ID, "hank@globex"),
    (ORG_B, "g-e12", _ts(6), "pursuit.stage_changed", "pursuit", SHARED_ENTITY_ID, "hank@globex"),
    (ORG_B, "g-e13", _ts(8, 12), "pursuit.note_added", "pursuit", SHARED_ENTITY_ID, "globex-note-author"),
]

# (org_id, user_id, name, display_name, email, title, first_seen_at): who the owners and actors are. Globex's
# hank has no user event, so pages show his id; globex names its own `bob@acme` differently (ids are per org).
USER_NAMES = {
    (ORG_A, "alice@acme"): "Alice Archer",
    (ORG_A, "bob@acme"): "Bob Baker",
    (ORG_B, "gina@globex"): "Gina Green",
}
_USERS = [
    (org, user_id, name, name, user_id, "Account executive", _ts(1))
    for (org, user_id), name in USER_NAMES.items()
] + [(ORG_B, "bob@acme", "Globex Bob", "Globex Bob", None, None, _ts(3))]

# (org_id, gate, attempts, passed, pass_rate, top_missing_items, health_line, below_health_line); org B
# runs its own health line (config key health.gate_pass_rate).
_GATES = [
    (ORG_A, "pink", 4, 3, 0.75, ["pricing_review", "exec_summary"], 0.8, True),
    (ORG_A, "red", 0, 0, None, [], 0.8, False),
    (ORG_B, "pink", 5, 5, 1.0, [], 0.6, False),
    (ORG_B, "red", 2, 1, 0.5, ["globex-legal-signoff"], 0.6, True),
]


def _gate_attempt_rows() -> list[tuple]:
    """`marts.gate_attempts` rows that add up to `_GATES`: one attempt a day from 1 May, the failed ones
    first, each failed one missing the gate's top items."""
    rows = []
    for org, gate, attempts, passed, _rate, missing, _line, _below in _GATES:
        for n in range(attempts):
            ok = n >= attempts - passed
            at = _ts(1 + n, 15)
            rows.append(
                (org, gate, f"{org}-{gate}-gate-{n}", SHARED_ENTITY_ID, at, ok, [] if ok else missing)
            )
    return rows


# The funnel pairs whose items `funnel_stage_entries` holds (the Funnel page's headline pairs), by index
# into FUNNEL_PAIRS, with the item type of the pair.
_ENTRY_PAIRS = {0: "signal", 1: "candidate", 5: "pursuit"}


def _stage_entry_rows() -> list[tuple]:
    """`marts.funnel_stage_entries` rows that add up to `_FUNNEL` for the headline pairs: the entered
    items enter the from-stage one a day from 1 May (round the week), the converted ones reach the
    to-stage an hour later (well before the as-of time; the hours are funnel_velocity's to show)."""
    rows = []
    for org, pairs in _FUNNEL.items():
        for index, item_type in _ENTRY_PAIRS.items():
            (from_stage, to_stage), (entered, converted, _median, _p90) = FUNNEL_PAIRS[index], pairs[index]
            for n in range(entered):
                item = f"{org}-{from_stage}-{n}"
                at = _ts(1 + n % 7, 8)
                rows.append((org, item_type, item, from_stage, at))
                if n < converted:
                    rows.append((org, item_type, item, to_stage, at + dt.timedelta(hours=1)))
    return rows


# (org_id, outcome, reason_code, pursuits, value_usd, median_days_to_close)
_WIN_LOSS = [
    (ORG_A, "won", "price", 1, 250_000.0, 6.0),
    (ORG_A, "lost", "missing", 1, 120_000.0, 7.0),
    (ORG_A, "lost", "competitor", 1, 0.0, None),  # no forecast value: the model sums it to 0
    (ORG_B, "lost", "competitor", 1, 80_000.0, 6.0),
]

# (org_id, pending, retrying, oldest_pending_age_s, dead_lettered, processed_last_hour)
_OUTBOX_HEALTH = [
    (ORG_A, 3, 1, 754.0, 2, 17),
    (ORG_B, 0, 0, None, 1, 5),
]

# (org_id, event_id, event_name, entity_type, entity_id, attempts, last_error, dead_at)
_DEAD_LETTERS = [
    (
        ORG_A,
        "e-a30",
        "pursuit.stage_changed",
        "pursuit",
        SHARED_ENTITY_ID,
        5,
        "acme-crm webhook timeout after 30s",
        _ts(9, 10),
    ),
    (ORG_A, "e-a31", "signal.created", "signal", "sig-a1", 5, None, _ts(9, 11)),
    (
        ORG_B,
        "g-e30",
        "candidate.promoted",
        "candidate",
        "cand-g1",
        3,
        "globex-crm 401 unauthorized",
        _ts(9, 12),
    ),
]


# ------------------------------------------------------------------------------------ work marts
ORG_A_WORK_ONLY = ("Acme roof survey", "acme-roof", "acme-alert-hook 500")
ORG_B_WORK_ONLY = ("Globex boiler retrofit", "globex-energy", "globex-alert-hook timeout")


def _why(u: float, v: float, s: float, c: float | None, w: float) -> str:
    parts = [f"urgency +{u:g}", f"value +{v:g}", f"stage +{s:g}"]
    if c is not None:
        parts.append(f"compliance +{c:g}")
    parts.append(f"workload −{-w:g}")
    return " · ".join(parts)


# (org_id, item_type, item_id, label, state, owner, due_date, last_touch_at, tags, value_band,
#  forecast_value_usd, sla_metric, badge, (urgency, value, stage, compliance, workload), tier, rank)
_PANEL = [
    (
        ORG_A,
        "pursuit",
        SHARED_ENTITY_ID,
        "Pursuit #p-100: Acme HQ refit",
        "red",
        "bob@acme",
        dt.date(2024, 5, 12),
        _ts(5, 11),
        ["hq"],
        "high",
        400_000.0,
        "proposal",
        "red",
        (100, 40, 25, 20, -6),
        "critical",
        1,
    ),
    (
        ORG_A,
        "pursuit",
        "p-a5",
        "Pursuit #p-a5: Acme roof survey",
        "qual",
        "alice@acme",
        dt.date(2024, 5, 8),
        _ts(7),
        ["acme-roof", "hq"],
        "med",
        60_000.0,
        None,
        "amber",
        (75, 25, 10, 0, -3),
        "critical",
        2,
    ),
    (
        ORG_A,
        "candidate",
        "cand-a2",
        "Acme data centre",
        "triaged",
        "alice@acme",
        None,
        _ts(1),
        [],
        "large",
        None,
        None,
        "amber",
        (50, 30, 10, None, -4),
        "high",
        3,
    ),
    (
        ORG_A,
        "candidate",
        "cand-a4",
        "Acme lobby screens",
        "nurture",
        "bob@acme",
        None,
        _ts(5),
        ["hq"],
        "medium",
        None,
        None,
        "amber",
        (25, 15, 15, None, -4),
        "medium",
        4,
    ),
    (
        ORG_A,
        "candidate",
        "cand-a3",
        "Acme canteen",
        "new",
        None,
        None,
        _ts(4),
        None,
        None,
        None,
        None,
        "green",
        (10, 0, 0, None, 0),
        "low",
        5,
    ),
    (
        ORG_B,
        "pursuit",
        SHARED_ENTITY_ID,
        "Pursuit #p-100: Globex plant audit",
        "submit",
        "hank@globex",
        dt.date(2024, 5, 20),
        _ts(8),
        ["audit"],
        "med",
        90_000.0,
        "response",
        "red",
        (100, 25, 35, 10, -3),
        "critical",
        1,
    ),
    (
        ORG_B,
        "candidate",
        "cand-g3",
        "Globex warehouse",
        "nurture",
        "gina@globex",
        None,
        _ts(9),
        ["audit"],
        "large",
        None,
        None,
        "green",
        (10, 30, 15, None, -2),
        "medium",
        2,
    ),
    (
        ORG_B,
        "candidate",
        "cand-g2",
        "Globex boiler retrofit",
        "triaged",
        "gina@globex",
        None,
        _ts(9, 6),
        ["globex-energy"],
        "large",
        None,
        None,
        "green",
        (10, 30, 10, None, -2),
        "low",
        3,
    ),
]


def _panel_rows() -> list[tuple]:
    rows = []
    for (
        org,
        itype,
        iid,
        label,
        state,
        owner,
        due,
        touch,
        tags,
        band,
        value,
        metric,
        badge,
        points,
        tier,
        rank,
    ) in _PANEL:
        u, v, s, c, w = points
        hours = (BUILT_AT - touch).total_seconds() / 3600
        rows.append(
            (
                org,
                itype,
                iid,
                label,
                state,
                owner,
                due,
                touch,
                hours,
                tags,
                band,
                value,
                metric,
                badge,
                float(u),
                float(v),
                float(s),
                float(c or 0),
                float(w),
                float(u + v + s + (c or 0) + w),
                tier,
                rank,
                _why(u, v, s, c, w),
                BUILT_AT,
                False,  # follow_up_due: the follow-ups live in `_FOLLOW_UPS`
            )
        )
    return rows


def expected_panel(org_id: str) -> list[tuple]:
    """The org's panel rows as written (see `_panel_rows`), in rank order."""
    return sorted((r for r in _panel_rows() if r[0] == org_id), key=lambda r: r[21])


def _owner_workload_rows() -> list[tuple]:
    """`marts.owner_workload` derived from the panel rows, as the mart does (stale: > 168 h)."""
    rows = []
    panel = [r for r in _panel_rows() if r[5] is not None]
    for org, owner in sorted({(r[0], r[5]) for r in panel}):
        mine = [r for r in panel if (r[0], r[5]) == (org, owner)]
        tiers = [r[20] for r in mine]
        rows.append(
            (
                org,
                owner,
                len(mine),
                *(tiers.count(t) for t in ("critical", "high", "medium", "low")),
                sum(r[19] for r in mine) / len(mine),
                sum(r[13] == "red" for r in mine),
                sum(r[13] == "amber" for r in mine),
                sum(r[8] > 168 for r in mine),
                max(r[8] for r in mine),
                BUILT_AT,
            )
        )
    return rows


# (org_id, item_type, item_id, metric, started_at, threshold_hours, deadline_at, stopped_at, elapsed_hours,
#  status, is_eligible, is_breached)
_SLA_CLOCKS = [
    (
        ORG_A,
        "signal",
        "sig-a2",
        "triage",
        _ts(1),
        24.0,
        _ts(2),
        _ts(2, 12),
        27.0,
        "breached_resolved",
        True,
        True,
    ),
    (
        ORG_A,
        "pursuit",
        SHARED_ENTITY_ID,
        "proposal",
        _ts(2, 10),
        72.0,
        _ts(5, 10),
        None,
        182.0,
        "breached_open",
        True,
        True,
    ),
    (
        ORG_B,
        "pursuit",
        SHARED_ENTITY_ID,
        "response",
        _ts(3),
        96.0,
        _ts(7),
        None,
        159.0,
        "breached_open",
        True,
        True,
    ),
]

# (org_id, item_type, item_id, metric, started_at, breached_at, resolved_at, threshold_hours,
#  hours_over_threshold, is_open)
_SLA_BREACHES = [
    (ORG_A, "signal", "sig-a2", "triage", _ts(1), _ts(2), _ts(2, 12), 24.0, 3.0, False),
    (ORG_A, "pursuit", SHARED_ENTITY_ID, "proposal", _ts(2, 10), _ts(5, 10), None, 72.0, 110.0, True),
    (ORG_B, "signal", "sig-g2", "triage", _ts(4), _ts(4, 21), _ts(5), 12.0, 3.0, False),
    (ORG_B, "pursuit", SHARED_ENTITY_ID, "response", _ts(3), _ts(7), None, 96.0, 63.0, True),
]

# (org_id, metric, threshold_hours, eligible, breached, open, at_risk, compliance_pct, breach_rate_pct,
#  health_line_pct, below_health_line); org B runs its own health line (health.sla_breach_rate_pct).
_SLA_SUMMARY = [
    (ORG_A, "triage", 24.0, 10, 1, 0, 1, 90.0, 10.0, 5.0, True),
    (ORG_A, "proposal", 72.0, 4, 1, 1, 0, 75.0, 25.0, 5.0, True),
    (ORG_A, "response", 96.0, 0, 0, 0, 0, None, None, 5.0, False),
    (ORG_B, "triage", 12.0, 40, 1, 0, 2, 97.5, 2.5, 3.0, False),
    (ORG_B, "proposal", 72.0, 2, 0, 0, 0, 100.0, 0.0, 3.0, False),
    (ORG_B, "response", 96.0, 1, 1, 1, 0, 0.0, 100.0, 3.0, True),
]

# (org_id, metric, week_start, eligible, breached, compliance_pct, hours_over_threshold)
_SLA_WEEKLY = [
    (ORG_A, "triage", dt.date(2024, 4, 29), 6, 1, 100 * 5 / 6, 3.0),
    (ORG_A, "triage", dt.date(2024, 5, 6), 4, 0, 100.0, 0.0),
    (ORG_A, "proposal", dt.date(2024, 4, 29), 2, 1, 50.0, 110.0),
    (ORG_A, "proposal", dt.date(2024, 5, 6), 2, 0, 100.0, 0.0),
    (ORG_B, "triage", dt.date(2024, 4, 29), 20, 1, 95.0, 3.0),
    (ORG_B, "triage", dt.date(2024, 5, 6), 20, 0, 100.0, 0.0),
    (ORG_B, "proposal", dt.date(2024, 5, 6), 2, 0, 100.0, 0.0),
    (ORG_B, "response", dt.date(2024, 5, 6), 1, 1, 0.0, 63.0),
]

# (org_id, stage, stage_order, open_pursuits, open_value_usd, p75_hours_in_stage, aging, slipped)
_PIPELINE_HEALTH = [
    (ORG_A, "qual", 1, 1, 60_000.0, None, 0, 1),
    (ORG_A, "pink", 2, 0, 0.0, 20.0, 0, 0),
    (ORG_A, "red", 3, 1, 400_000.0, 48.0, 1, 0),
    (ORG_A, "submit", 4, 0, 0.0, None, 0, 0),
    (ORG_B, "qual", 1, 0, 0.0, 30.0, 0, 0),
    (ORG_B, "pink", 2, 0, 0.0, None, 0, 0),
    (ORG_B, "red", 3, 0, 0.0, None, 0, 0),
    (ORG_B, "submit", 4, 1, 90_000.0, None, 0, 0),
]

# (org_id, month_start, won, lost, win_rate)
_WIN_RATE = [
    (ORG_A, dt.date(2024, 3, 1), 2, 1, 2 / 3),
    (ORG_A, dt.date(2024, 5, 1), 1, 2, 1 / 3),
    (ORG_B, dt.date(2024, 5, 1), 0, 1, 0.0),
]

# (org_id, alert_id, kind, item_type, item_id, metric, started_at, breached_at, created_at, delivered_at,
#  sink, delivery_status, attempts, last_error, alert_status)
_ALERTS = [
    (
        ORG_A,
        "al-a1",
        "breach",
        "pursuit",
        SHARED_ENTITY_ID,
        "proposal",
        _ts(2, 10),
        _ts(5, 10),
        _ts(5, 10, 5),
        _ts(5, 10, 5),
        "table",
        "delivered",
        1,
        None,
        "active",
    ),
    (
        ORG_A,
        "al-a1",
        "breach",
        "pursuit",
        SHARED_ENTITY_ID,
        "proposal",
        _ts(2, 10),
        _ts(5, 10),
        _ts(5, 10, 5),
        None,
        "webhook",
        "failed",
        8,
        "acme-alert-hook 500",
        "active",
    ),
    (
        ORG_A,
        "al-a2",
        "retraction",
        "signal",
        "sig-a2",
        "triage",
        _ts(1),
        _ts(2),
        _ts(2, 13),
        _ts(2, 13),
        "log",
        "delivered",
        1,
        None,
        "active",
    ),
    (
        ORG_B,
        "al-g1",
        "breach",
        "pursuit",
        SHARED_ENTITY_ID,
        "response",
        _ts(3),
        _ts(7),
        _ts(7, 0, 5),
        None,
        "webhook",
        "pending",
        2,
        "globex-alert-hook timeout",
        "active",
    ),
]


def _sla_clock_rows() -> list[tuple]:
    """`_SLA_CLOCKS` and, beside them, resolved clocks of other items so that each (org, metric) has the
    eligible and breached clocks `_SLA_SUMMARY` counts: every one stopped or due before the as-of time,
    so a period holding all the data shows the summary's numbers."""
    rows = list(_SLA_CLOCKS)
    for org, metric, threshold, eligible, breached, *_ in _SLA_SUMMARY:
        mine = [r for r in _SLA_CLOCKS if (r[0], r[3]) == (org, metric) and r[10]]
        more_breached = breached - sum(1 for r in mine if r[11])
        more_met = eligible - breached - sum(1 for r in mine if not r[11])
        for n in range(more_breached + more_met):
            is_breached = n < more_breached
            started = _ts(1 + n % 5, 8)
            deadline = started + dt.timedelta(hours=threshold)
            stopped = deadline + dt.timedelta(hours=1) if is_breached else started + dt.timedelta(hours=1)
            status = "breached_resolved" if is_breached else "met"
            elapsed = (stopped - started).total_seconds() / 3600
            item = f"{org}-{metric}-clock-{n}"
            rows.append((org, "signal", item, metric, started, threshold, deadline, stopped, elapsed, status, True,
                         is_breached))  # fmt: skip
    return rows


def _insert_work(con: duckdb.DuckDBPyConnection) -> None:
    _insert(con, "marts.today_panel", _panel_rows())
    _insert(con, "marts.owner_workload", _owner_workload_rows())
    _insert(con, "marts.sla_clocks", [(*r, BUILT_AT) for r in _sla_clock_rows()])
    _insert(con, "marts.sla_breaches", [(*r, BUILT_AT) for r in _SLA_BREACHES])
    _insert(con, "marts.sla_compliance_summary", [(*r, BUILT_AT) for r in _SLA_SUMMARY])
    _insert(con, "marts.sla_compliance_weekly", [(*r, BUILT_AT) for r in _SLA_WEEKLY])
    _insert(con, "marts.pipeline_health", [(*r, BUILT_AT) for r in _PIPELINE_HEALTH])
    _insert(con, "marts.win_rate_monthly", [(*r, BUILT_AT) for r in _WIN_RATE])
    _insert(con, "marts.alerts", _ALERTS)


# ------------------------------------------------------------------------------------------- memory

# Memory marts (memory_atoms, memory_cards and the BM25 index memory_search, built with the pipeline's
# own `build_index`): a few atoms per org on the lifecycle entities. Both orgs have an atom with the same
# id (`SHARED_ATOM_ID`, on their pursuit `p-100`) and both mention "pricing", so a search or lookup that
# ignores the org would mix them. Cards are derived from the atoms as the dbt model does, including the
# client roll-ups (acme's `cli-a1` rolls up its own atom plus cand-a1's and p-100's).
SHARED_ATOM_ID = "m-shared"
ORG_A_MEMORY_ONLY = ("ACME-MEM-PHASED", "ACME-MEM-PREF", "Acme procurement asked")
ORG_B_MEMORY_ONLY = ("GLOBEX-MEM-DECISION", "GLOBEX-MEM-RISK", "Globex prefers quarterly")
_TYPE_SCORE = {"decision": 100.0, "risk": 90.0, "preference": 80.0, "note": 60.0, "status": 40.0}
_HALF_LIFE = {"decision": 180.0, "risk": 180.0, "preference": 180.0, "note": 30.0, "status": 30.0}
_RETENTION = {"decision": 365, "risk": 365, "preference": 365, "note": 90, "status": 30}

# (org_id, atom_id, entity_type, entity_id, client_id, atom_type, content, source, occurred_at, version)
_MEMORY_ATOMS = [
    (
        ORG_A,
        "m-a1",
        "candidate",
        "cand-a1",
        "cli-a1",
        "decision",
        "Chose the phased rollout plan for the HQ refit (ACME-MEM-PHASED)",
        "explicit",
        _ts(3),
        1,
    ),
    (
        ORG_A,
        "m-a2",
        "candidate",
        "cand-a1",
        "cli-a1",
        "risk",
        "Budget freeze risk: the board may delay the HQ budget",
        "note",
        _ts(4),
        2,
    ),
    (
        ORG_A,
        SHARED_ATOM_ID,
        "pursuit",
        SHARED_ENTITY_ID,
        "cli-a1",
        "note",
        "Acme procurement asked for fixed pricing per floor",
        "note",
        _ts(6),
        1,
    ),
    (
        ORG_A,
        "m-a4",
        "client",
        "cli-a1",
        "cli-a1",
        "preference",
        "Prefers fixed pricing on every proposal (ACME-MEM-PREF)",
        "explicit",
        _ts(2),
        1,
    ),
    (
        ORG_A,
        "m-a5",
        "signal",
        "sig-a1",
        None,
        "status",
        "Web enquiry about canteen screens",
        "system",
        _ts(1),
        1,
    ),
    (
        ORG_B,
        "m-g1",
        "candidate",
        "cand-g1",
        "cli-g1",
        "decision",
        "Globex chose the plant audit vendor shortlist (GLOBEX-MEM-DECISION)",
        "explicit",
        _ts(4),
        1,
    ),
    (
        ORG_B,
        SHARED_ATOM_ID,
        "pursuit",
        SHARED_ENTITY_ID,
        "cli-g1",
        "risk",
        "Pricing pressure from a competitor on the audit (GLOBEX-MEM-RISK)",
        "note",
        _ts(8),
        1,
    ),
    (
        ORG_B,
        "m-g3",
        "client",
        "cli-g1",
        "cli-g1",
        "preference",
        "Globex prefers quarterly reviews with the plant manager",
        "explicit",
        _ts(3),
        1,
    ),
]


def _memory_atom_rows() -> list[tuple]:
    """Full `marts.memory_atoms` rows: score, relevance and their components as of `BUILT_AT`."""
    rows = []
    for org, atom_id, etype, eid, client, atype, content, source, at, version in _MEMORY_ATOMS:
        age_days = (BUILT_AT - at).total_seconds() / 86_400
        decay = 0.5 ** (age_days / _HALF_LIFE[atype])
        score = _TYPE_SCORE[atype]
        rows.append(
            (
                org,
                atom_id,
                etype,
                eid,
                client,
                atype,
                content,
                source,
                1.0,
                [],
                at,
                at + dt.timedelta(days=_RETENTION[atype]),
                version,
                score,
                round(score * decay, 6),
                score,
                age_days,
                _HALF_LIFE[atype],
                decay,
                False,
                BUILT_AT,
            )
        )
    return rows


def memory_atoms(org_id: str) -> list[dict]:
    """The org's atoms as written, as dicts (atom_id, entity_type, entity_id, client_id, atom_type, content,
    occurred_at, version, relevance)."""
    keys = ("org_id", "atom_id", "entity_type", "entity_id", "client_id", "atom_type", "content")
    return [
        {**dict(zip(keys, r[:7], strict=True)), "occurred_at": r[10], "version": r[12], "relevance": r[14]}
        for r in _memory_atom_rows()
        if r[0] == org_id
    ]


def _memory_card_rows() -> list[tuple]:
    """`marts.memory_cards` as the dbt model builds it: one card per entity plus one per client roll-up."""
    members: dict[tuple[str, str, str], dict[str, dict]] = {}
    for org in (ORG_A, ORG_B):
        for atom in memory_atoms(org):
            members.setdefault((org, atom["entity_type"], atom["entity_id"]), {})[atom["atom_id"]] = atom
            if atom["client_id"] is not None:
                members.setdefault((org, "client", atom["client_id"]), {})[atom["atom_id"]] = atom

    def item(atom: dict) -> dict:
        return {
            "atom_id": atom["atom_id"],
            "atom_type": atom["atom_type"],
            "content": atom["content"][:300],
            "occurred_at": atom["occurred_at"].strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        }

    rows = []
    for (org, etype, eid), by_id in sorted(members.items()):
        atoms = list(by_id.values())
        by_relevance = sorted(atoms, key=lambda a: (-a["relevance"], a["atom_id"]))
        recent = sorted(atoms, key=lambda a: (a["occurred_at"], a["atom_id"]), reverse=True)
        sections = [
            [item(a) for a in by_relevance if a["atom_type"] in ("preference", "decision")][:5],
            [item(a) for a in recent][:3],
            [item(a) for a in by_relevance if a["atom_type"] == "decision"][:3],
            [item(a) for a in by_relevance if a["atom_type"] == "risk"][:3],
            [item(a) for a in by_relevance][:10],
        ]
        texts = [json.dumps(section) for section in sections]
        etag = '"' + hashlib.md5("".join(texts).encode()).hexdigest() + '"'
        version = sum(a["version"] for a in atoms)
        rows.append((org, etype, eid, *texts, len(atoms), version, etag, BUILT_AT))
    return rows


def _insert_memory(con: duckdb.DuckDBPyConnection) -> None:
    _insert(con, "marts.memory_atoms", _memory_atom_rows())
    _insert(con, "marts.memory_cards", _memory_card_rows())


# The column each position of a table's row tuples fills; the types come from the served schema
# (tests/snapshot_schema.py: the dbt model's contract, or the pipeline's own declaration).
# fmt: off
_COLUMNS: dict[str, tuple[str, ...]] = {
    "snapshot_info": ("snapshot_version", "built_at", "published_at", "events"),
    "event_volume_daily": ("org_id", "event_date", "event_name", "entity_type", "events"),
    "funnel_velocity": ("org_id", "from_stage", "to_stage", "pair_order", "entered", "converted",
        "conversion_rate", "median_hours", "p90_hours", "built_at"),
    "quarantine": ("content_hash", "file", "line", "reason", "detail", "raw", "org_id", "event_id",
        "quarantined_at"),
    "ingest_ledger": ("content_hash", "file", "format", "lines", "accepted", "duplicates", "quarantined",
        "org_id", "status", "ingested_at"),
    "ingest_ledger_by_org": ("content_hash", "file", "org_id", "lines", "accepted", "duplicates",
        "quarantined", "format", "status", "ingested_at"),
    "events": ("org_id", "event_id", "occurred_at", "event_name", "entity_type", "entity_id", "actor",
        "payload", "ingested_at", "source_file", "source_line", "content_hash"),
    "signals": ("org_id", "signal_id", "status", "owner", "source_type", "created_at", "first_touched_at",
        "dismissed_at", "linked_at", "linked_candidate_id", "linked_candidate_ids", "entered_state_at",
        "last_event_at", "company_name"),
    "candidates": ("org_id", "candidate_id", "status", "owner", "title", "client_id", "value_band", "tags",
        "signal_ids", "pursuit_id", "entered_state_at", "created_at", "last_event_at"),
    "pursuits": ("org_id", "pursuit_id", "candidate_id", "stage", "owner", "capture_lead", "client_id",
        "due_date", "forecast_value_usd", "compliance_score", "pink_checklist", "pink_missing",
        "pink_completion_pct", "red_checklist", "red_missing", "red_completion_pct", "proposals_sent",
        "first_proposal_sent_at", "latest_proposal_id", "latest_proposal_version", "outcome",
        "reason_code", "reason", "missing_reason", "entered_state_at", "created_at", "closed_at",
        "last_event_at"),
    "clients": ("org_id", "client_id", "name", "domain", "industry", "created_at", "last_event_at"),
    "users": ("org_id", "user_id", "name", "display_name", "email", "title", "first_seen_at"),
    "transitions": ("org_id", "entity_type", "entity_id", "from_state", "to_state", "occurred_at",
        "event_id", "warned"),
    "rejected_events": ("org_id", "event_id", "event_name", "entity_type", "entity_id", "occurred_at",
        "rule", "detail", "outcome"),
    "gate_pass_rates": ("org_id", "gate", "attempts", "passed", "pass_rate", "top_missing_items",
        "health_line", "below_health_line"),
    "win_loss": ("org_id", "outcome", "reason_code", "pursuits", "value_usd", "median_days_to_close"),
    "gate_attempts": ("org_id", "gate", "event_id", "pursuit_id", "occurred_at", "passed", "missing_items"),
    "funnel_stage_entries": ("org_id", "item_type", "item_id", "stage", "first_entered_at"),
    "outbox_health": ("org_id", "pending", "retrying", "oldest_pending_age_s", "dead_lettered",
        "processed_last_hour"),
    "dead_letters": ("org_id", "event_id", "event_name", "entity_type", "entity_id", "attempts",
        "last_error", "dead_at"),
    "today_panel": ("org_id", "item_type", "item_id", "label", "state", "owner", "due_date",
        "last_touch_at", "hours_since_touch", "tags", "value_band", "forecast_value_usd", "sla_metric",
        "badge", "urgency_points", "value_points", "stage_points", "compliance_points", "workload_points",
        "priority_score", "priority_tier", "rank", "why", "built_at", "follow_up_due"),
    "owner_workload": ("org_id", "owner", "total_items", "critical_items", "high_items", "medium_items",
        "low_items", "avg_priority_score", "sla_breaches", "at_risk_items", "stale_items",
        "max_hours_without_touch", "built_at"),
    "sla_clocks": ("org_id", "item_type", "item_id", "metric", "started_at", "threshold_hours",
        "deadline_at", "stopped_at", "elapsed_hours", "status", "is_eligible", "is_breached", "built_at"),
    "sla_breaches": ("org_id", "item_type", "item_id", "metric", "started_at", "breached_at",
        "resolved_at", "threshold_hours", "hours_over_threshold", "is_open", "built_at"),
    "sla_compliance_summary": ("org_id", "metric", "threshold_hours", "eligible_items", "breached_items",
        "open_breaches", "at_risk_items", "compliance_pct", "breach_rate_pct", "health_line_pct",
        "below_health_line",
        "built_at"),
    "sla_compliance_weekly": ("org_id", "metric", "week_start", "eligible_items", "breached_items",
        "compliance_pct", "hours_over_threshold", "built_at"),
    "pipeline_health": ("org_id", "stage", "stage_order", "open_pursuits", "open_value_usd",
        "p75_hours_in_stage", "aging_pursuits", "slipped_pursuits", "built_at"),
    "win_rate_monthly": ("org_id", "month_start", "won", "lost", "win_rate", "built_at"),
    "alerts": ("org_id", "alert_id", "kind", "item_type", "item_id", "metric", "started_at", "breached_at",
        "created_at", "delivered_at", "sink", "delivery_status", "attempts", "last_error", "alert_status"),
    "memory_atoms": ("org_id", "atom_id", "entity_type", "entity_id", "client_id", "atom_type", "content",
        "source", "trust_weight", "tags", "occurred_at", "expires_at", "version", "score", "relevance",
        "base_score", "age_days", "half_life_days", "decay_factor", "pinned", "built_at"),
    "memory_cards": ("org_id", "entity_type", "entity_id", "key_facts", "recent_activity", "decisions",
        "risks", "top_atoms", "atoms_total", "version", "etag", "built_at"),
    "follow_ups": ("org_id", "follow_up_id", "kind", "item_type", "item_id", "owner", "due_at", "atom_id", "why"),
    "score_calibration": ("org_id", "model_version", "scorer", "brier_model", "brier_base_rate", "base_rate",
        "n_train", "n_holdout", "n_closed"),
    "score_reliability": ("org_id", "model_version", "bin", "p_low", "p_high", "scores", "mean_predicted",
        "observed_win_rate"),
    "win_patterns": ("org_id", "pattern", "support_with", "support_without", "win_rate_with",
        "win_rate_without", "lift", "lift_ci_low", "lift_ci_high"),
    "pursuit_scores": ("org_id", "pursuit_id", "win_probability", "model_version", "why",
        "stage_contribution", "age_in_stage_contribution", "checklist_contribution", "sla_record_contribution",
        "engagement_recency_contribution", "value_band_contribution", "client_history_contribution",
        "memory_contribution", "lead_source_contribution"),
    "similar_pursuits": ("org_id", "pursuit_id", "similar_rank", "similar_pursuit_id", "same_client",
        "same_industry", "same_value_band", "outcome", "closed_at", "decisive_atoms"),
}
# fmt: on

# Win scoring: org A learned a model that beats its base rate; org B has too few closed pursuits (prior).
_SCORE_CALIBRATION = [
    (ORG_A, "lr1-acme0000000", "model", 0.201, 0.244, 0.42, 300, 100, 400),
    (ORG_B, "prior-1", "prior", 0.26, 0.25, 0.4, 0, 5, 5),
]
_SCORE_RELIABILITY = [
    (ORG_A, "lr1-acme0000000", 2, 0.2, 0.4, 120, 0.31, 0.28),
    (ORG_A, "lr1-acme0000000", 4, 0.6, 0.8, 80, 0.68, 0.71),
]
# Scores of the open pursuits: acme's p-100 by its model (checklist up, open risk down), globex's by the prior.
_PURSUIT_SCORES = [
    (
        ORG_A,
        SHARED_ENTITY_ID,
        0.63,
        "lr1-acme0000000",
        "red stage and a complete pink checklist raise it; an open budget risk lowers it",
        0.4,
        -0.1,
        0.5,
        0.0,
        0.05,
        0.1,
        0.2,
        -0.3,
        0.0,
    ),
    (
        ORG_B,
        SHARED_ENTITY_ID,
        0.4,
        "prior-1",
        "prior scorecard: submit stage",
        0.2,
        0.0,
        0.0,
        0.0,
        0.0,
        0.0,
        0.0,
        0.0,
        0.0,
    ),
]
# Similar closed pursuits of acme's p-100: p-a2 (same client, won) first, then p-a3 (lost).
_SIMILAR_PURSUITS = [
    (ORG_A, SHARED_ENTITY_ID, 1, "p-a2", True, True, True, "won", _ts(7), ["Won on the phased price plan"]),
    (ORG_A, SHARED_ENTITY_ID, 2, "p-a3", False, False, True, "lost", _ts(8), []),
]
# Follow-ups: org A has a quiet proposal on its top pursuit and a quiet signal; org B has none.
_FOLLOW_UPS = [
    (
        ORG_A,
        "signal_quiet:signal:sig-a9",
        "signal_quiet",
        "signal",
        "sig-a9",
        None,
        dt.datetime(2024, 5, 8, 9, tzinfo=UTC),
        None,
        "Answered this email signal on 2024-05-04 and heard nothing since (follow up after 3 days).",
    ),
    (
        ORG_A,
        f"proposal_quiet:pursuit:{SHARED_ENTITY_ID}",
        "proposal_quiet",
        "pursuit",
        SHARED_ENTITY_ID,
        "bob@acme",
        dt.datetime(2024, 5, 6, 9, tzinfo=UTC),
        None,
        "Proposal v1 is out and nothing has happened since 2024-05-01 (8 days; follow up after 5): check in.",
    ),
    (
        ORG_A,
        f"client_preference:pursuit:{SHARED_ENTITY_ID}",
        "client_preference",
        "pursuit",
        SHARED_ENTITY_ID,
        "bob@acme",
        dt.datetime(2024, 5, 10, 9, tzinfo=UTC),
        "atom-pref-1",
        'Before the submit step, the client\'s preference: "Always CC the CFO on financial documents."',
    ),
    (
        ORG_A,
        "signal_quiet:signal:sig-a8",
        "signal_quiet",
        "signal",
        "sig-a8",
        "alice@acme",
        dt.datetime(2024, 5, 9, 9, tzinfo=UTC),
        None,
        "Answered this web signal on 2024-05-05 and heard nothing since (follow up after 3 days).",
    ),
]
_WIN_PATTERNS = [
    (
        ORG_A,
        "win rate is 40 % higher when memory holds an entry tagged risk mitigation",
        120,
        180,
        0.56,
        0.4,
        1.4,
        1.2,
        1.63,
    ),
    (ORG_A, "win rate is 25 % lower when the lead came by web", 60, 240, 0.33, 0.44, 0.75, 0.6, 0.94),
]

_FORMATS = {"h-acme": "jsonl", "h-globex": "csv", "h-shared": "parquet", "h-corrupt": "jsonl.gz"}


def _insert(con: duckdb.DuckDBPyConnection, table: str, rows: list[tuple]) -> None:
    """Rows into `marts.<table>` by column name (`_COLUMNS`), checked against the served schema."""
    name = table.removeprefix("marts.")
    columns = _COLUMNS[name]
    # Tables whose hand-made rows leave out the build time the pipeline stamps on every row.
    fill = (
        {"built_at": BUILT_AT} if "built_at" not in columns and "built_at" in table_schema(name).names else {}
    )
    insert_rows(con, name, columns, rows, fill=fill)


def _pursuit_rows() -> list[tuple]:
    """Full `marts.pursuits` rows from the short `_PURSUITS` tuples."""
    rows = []
    for (
        org,
        pid,
        cid,
        stage,
        owner,
        client,
        value,
        outcome,
        reason_code,
        missing,
        entered,
        created,
        closed,
    ) in _PURSUITS:
        rows.append(
            (
                org,
                pid,
                cid,
                stage,
                owner,
                owner,
                client,
                dt.date(2024, 6, 30),
                value,
                0.9,
                '{"exec_summary": true}',
                [],
                100.0,
                None,
                [],
                None,
                1 if stage in ("submit", "won", "lost") else 0,
                None,
                None,
                None,
                outcome,
                reason_code,
                None if missing in (None, True) else reason_code,
                missing,
                entered,
                created,
                closed,
                closed or entered,
            )
        )
    return rows


def _insert_lifecycle(con: duckdb.DuckDBPyConnection) -> None:
    _insert(con, "marts.signals", [(*row, SIGNAL_COMPANIES.get(row[1])) for row in _SIGNALS])
    _insert(con, "marts.candidates", _CANDIDATES)
    _insert(con, "marts.pursuits", _pursuit_rows())
    _insert(con, "marts.clients", _CLIENTS)
    _insert(con, "marts.users", _USERS)
    _insert(con, "marts.transitions", _TRANSITIONS)
    _insert(con, "marts.rejected_events", _REJECTED)
    events = [
        (org, eid, at, name, etype, eid_, actor, "{}", at, "lifecycle.jsonl", n, "h-lifecycle")
        for n, (org, eid, at, name, etype, eid_, actor) in enumerate(_EVENTS, start=1)
    ]
    _insert(con, "marts.events", events)
    _insert(con, "marts.gate_pass_rates", _GATES)
    _insert(con, "marts.gate_attempts", _gate_attempt_rows())
    _insert(con, "marts.funnel_stage_entries", _stage_entry_rows())
    _insert(con, "marts.win_loss", _WIN_LOSS)
    _insert(con, "marts.outbox_health", _OUTBOX_HEALTH)
    _insert(con, "marts.dead_letters", _DEAD_LETTERS)
    _insert(con, "marts.follow_ups", _FOLLOW_UPS)
    _insert(con, "marts.score_calibration", _SCORE_CALIBRATION)
    _insert(con, "marts.score_reliability", _SCORE_RELIABILITY)
    _insert(con, "marts.win_patterns", _WIN_PATTERNS)
    _insert(con, "marts.pursuit_scores", _PURSUIT_SCORES)
    _insert(con, "marts.similar_pursuits", _SIMILAR_PURSUITS)


def build_snapshot(path: Path, *, empty: bool = False, version: str = "20240510T000000Z-test") -> Path:
    """Write a snapshot to `path` (replacing any file there) and return the path.

    `empty=True` writes the same tables with no rows and `events = 0`, as a first publish over an
    empty inbox would.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".building")
    tmp.write_bytes(_snapshot_bytes(empty, version))
    # Publish like the pipeline does: a complete file swapped in atomically.
    tmp.replace(path)
    return path


@functools.lru_cache(maxsize=8)
def _snapshot_bytes(empty: bool, version: str) -> bytes:
    """The file `build_snapshot` writes, built once per process: most dashboard tests start from the
    same snapshot, and building it (tables, rows, the search index) costs more than copying it."""
    with tempfile.TemporaryDirectory(prefix="snapshot-fixture-") as folder:
        path = Path(folder) / "serving.duckdb"
        _write_snapshot(path, empty=empty, version=version)
        return path.read_bytes()


def _write_snapshot(tmp: Path, *, empty: bool, version: str) -> None:
    with duckdb.connect(str(tmp)) as con:
        con.execute("SET TimeZone = 'UTC'")
        create_tables(con, _COLUMNS)
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
            # Each org's rows carry their file's format, status and ingest time, as the mart's do.
            file_of = {row[0]: (row[2], row[8], row[9]) for row in ledger}
            _insert(con, "marts.ingest_ledger_by_org", [(*row, *file_of[row[0]]) for row in by_org])
            _insert_lifecycle(con)
            _insert_work(con)
            _insert_memory(con)
        # The search index over whatever atoms there are, built by the pipeline's own code.
        build_index(con)
        _insert(con, "marts.snapshot_info", [(version, BUILT_AT, PUBLISHED_AT, total)])
