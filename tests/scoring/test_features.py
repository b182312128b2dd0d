"""What scoring may know of a pursuit: its facts as of each open stage it entered, never later."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import polars as pl
import pytest

from dagster_project.apply.runner import run_apply
from dagster_project.config.registry import PINK_ITEMS, RED_ITEMS
from dagster_project.ingestion.ingest import ingest_paths
from dagster_project.ingestion.readers import list_inbox
from dagster_project.scoring.features import read_pursuit_facts
from dagster_project.warehouse.store import connect, ensure_raw_schema
from tests.events_factory import event, write_jsonl

AS_OF = datetime(2026, 11, 1, tzinfo=UTC)
LEAD = "lee@acme.test"


class Story:
    """Hand-written events for org `acme`, one per call, numbered in order."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def add(self, at: str, name: str, etype: str, eid: str, payload: dict[str, Any]) -> None:
        self.events.append(
            event(
                f"e{len(self.events) + 1:03d}",
                occurred_at=f"2026-10-{at}:00Z",
                event_name=name,
                entity_type=etype,
                entity_id=eid,
                actor=LEAD,
                payload=payload,
            )
        )

    def pursuit(self, day: int, cand: str, pid: str, sig: str, source: str, touch_minutes: int) -> None:
        """A signal (touched after `touch_minutes`), a candidate for client cli-a, promoted to `pid`."""
        d = f"{day:02d}"
        self.add(f"{d}T09:00", "signal.created", "signal", sig, {"source_type": source, "urgency": 0.5})
        self.add(
            f"{d}T{9 + touch_minutes // 60:02d}:{touch_minutes % 60:02d}",
            "signal.touched",
            "signal",
            sig,
            {"channel": "email"},
        )
        self.add(
            f"{d}T13:00",
            "candidate.created",
            "candidate",
            cand,
            {"title": "Deal", "client_id": "cli-a", "value_band": "med", "owner": LEAD, "signal_ids": [sig]},
        )
        self.add(f"{d}T13:30", "candidate.status_changed", "candidate", cand, {"to": "triaged"})
        promoted = {
            "pursuit_id": pid,
            "due_date": "2026-12-01",
            "forecast_value_usd": 50000,
            "capture_lead": LEAD,
        }
        self.add(f"{d}T14:00", "candidate.promoted", "candidate", cand, promoted)

    def tick(self, at: str, pid: str, checklist: str, item: str) -> None:
        payload = {"checklist": checklist, "item": item, "done": True}
        self.add(at, "pursuit.checklist_item_set", "pursuit", pid, payload)

    def stage(self, at: str, pid: str, to: str, **extra: str) -> None:
        self.add(at, "pursuit.stage_changed", "pursuit", pid, {"to": to, **extra})

    def risk(self, at: str, pid: str, tags: list[str]) -> None:
        payload = {"atom_type": "risk", "content": "Phased delivery caps the exposure.", "tags": tags}
        self.add(at, "memory.recorded", "pursuit", pid, payload)


@pytest.fixture(scope="module")
def facts(tmp_path_factory: pytest.TempPathFactory) -> pl.DataFrame:
    s = Story()
    # p1: a referral answered in 90 minutes, a risk mitigation in pink, won after submit.
    s.pursuit(1, "c1", "p1", "s1", "referral", 90)
    s.stage("02T10:00", "p1", "pink")
    for i, item in enumerate(PINK_ITEMS):
        s.tick(f"02T11:{i:02d}", "p1", "pink", item)
    s.risk("02T15:00", "p1", ["risk-mitigation"])
    # Memory of the candidate counts for its pursuit, up to each row's cutoff.
    s.add(
        "03T09:00",
        "memory.recorded",
        "candidate",
        "c1",
        {"atom_type": "preference", "content": "Fixed price."},
    )
    s.stage("05T10:00", "p1", "red")
    for i, item in enumerate(RED_ITEMS):
        s.tick(f"05T11:{i:02d}", "p1", "red", item)
    s.add("05T15:00", "pursuit.proposal_sent", "pursuit", "p1", {"proposal_id": "prop-1", "version": 1})
    s.stage("06T10:00", "p1", "submit")
    # After the submission: known only after the pursuit entered its last open stage.
    s.risk("07T10:00", "p1", ["risk-mitigation"])
    s.risk("07T11:00", "p1", [])
    s.add("07T12:00", "pursuit.proposal_sent", "pursuit", "p1", {"proposal_id": "prop-1", "version": 2})
    s.add("07T13:00", "memory.recorded", "candidate", "c1", {"atom_type": "decision", "content": "Phase it."})
    s.stage("09T10:00", "p1", "won", reason="Best price", reason_code="price")
    # p2: same client, opened after p1 was won, an email answered in 10 minutes, still in qual.
    s.pursuit(12, "c2", "p2", "s2", "email", 10)
    folder = tmp_path_factory.mktemp("features")
    write_jsonl(folder / "events.jsonl", s.events)
    con = connect(folder / "warehouse.duckdb")
    try:
        ensure_raw_schema(con)
        report = ingest_paths(con, list_inbox(folder, settle_seconds=0), now=AS_OF)
        assert sum(f.quarantined for f in report.files) == 0
        run_apply(con, folder / "control.sqlite", now=AS_OF, as_of=AS_OF, worker="test")
        return read_pursuit_facts(con)
    finally:
        con.close()


def _row(facts: pl.DataFrame, pid: str, stage: str) -> dict[str, Any]:
    rows = facts.filter((pl.col("pursuit_id") == pid) & (pl.col("last_open_stage") == stage)).to_dicts()
    assert len(rows) == 1, rows
    return rows[0]


def test_a_closed_pursuit_has_one_row_per_open_stage_it_entered_and_the_last_is_submit(facts) -> None:
    p1 = facts.filter(pl.col("pursuit_id") == "p1").sort("cutoff")
    assert p1["last_open_stage"].to_list() == ["qual", "pink", "red", "submit"]
    assert p1["is_last"].to_list() == [False, False, False, True]
    assert set(p1["outcome"]) == {"won"}


def test_the_last_row_knows_nothing_recorded_after_the_submission(facts) -> None:
    last = _row(facts, "p1", "submit")
    assert last["cutoff"] == datetime(2026, 10, 6, 10, tzinfo=UTC)
    assert last["risk_mitigations"] == 1  # the second mitigation came after the submission
    assert last["open_risks"] == 0  # so did the plain risk
    assert last["proposal_versions"] == 1  # and version 2
    assert last["preferences"] == 1  # the candidate's preference came before it
    assert last["decisions"] == 0 and "decision" not in last["atom_types"]  # its decision after
    assert len(last["done_items"]) == len(PINK_ITEMS) + len(RED_ITEMS)


def test_each_stage_row_sees_the_checklist_as_it_was_then(facts) -> None:
    assert _row(facts, "p1", "qual")["done_items"] == []
    assert _row(facts, "p1", "pink")["done_items"] == []  # ticked after the pink entry
    assert sorted(_row(facts, "p1", "red")["done_items"]) == sorted(f"pink:{i}" for i in PINK_ITEMS)
    assert _row(facts, "p1", "pink")["risk_mitigations"] == 0
    assert _row(facts, "p1", "red")["risk_mitigations"] == 1


def test_lead_source_and_first_response_come_from_the_first_signal(facts) -> None:
    p1, p2 = _row(facts, "p1", "submit"), _row(facts, "p2", "qual")
    assert (p1["lead_source"], p1["response_hours"]) == ("referral", pytest.approx(1.5))
    assert (p2["lead_source"], p2["response_hours"]) == ("email", pytest.approx(10 / 60))


def test_an_open_pursuit_has_one_row_and_the_clients_earlier_outcomes(facts) -> None:
    p2 = facts.filter(pl.col("pursuit_id") == "p2")
    assert p2.height == 1 and p2["is_last"].to_list() == [True] and p2["outcome"].to_list() == [None]
    row = p2.to_dicts()[0]
    assert (row["client_closed"], row["client_won"]) == (1, 1)
    assert (row["value_band"], row["pink_total"], row["red_total"]) == (
        "med",
        len(PINK_ITEMS),
        len(RED_ITEMS),
    )
    assert _row(facts, "p1", "qual")["client_closed"] == 0  # p2 was not yet closed, nor anything else


def test_facts_read_org_by_org_and_in_shares_equal_one_read_of_every_org(tmp_path, monkeypatch) -> None:
    """The facts are read org by org, and a large org's pursuits in shares (a large first import broke
    the DuckDB cap reading every org at once, then one org of a 5M-event history); the rows, their
    values and their order are those of a single read over every org."""
    from dagster_project.generator import generate
    from dagster_project.scoring import features
    from dagster_project.scoring.features import _read_facts

    end = datetime(2026, 11, 27, 17, 0, tzinfo=UTC)
    generate(tmp_path / "inbox", orgs=3, events=6_000, seed=5, end=end)
    con = connect(tmp_path / "warehouse.duckdb")
    try:
        ensure_raw_schema(con)
        ingest_paths(con, list_inbox(tmp_path / "inbox", settle_seconds=0), now=end)
        run_apply(con, tmp_path / "control.sqlite", now=end, as_of=end, worker="test")
        orgs = [r[0] for r in con.execute("select distinct org_id from core.pursuits order by 1").fetchall()]
        assert len(orgs) == 3
        whole = _read_facts(con, orgs, 0, 1)
        assert whole.height > 0
        assert read_pursuit_facts(con).equals(whole)
        assert read_pursuit_facts(con, [orgs[1]]).equals(whole.filter(pl.col("org_id") == orgs[1]))
        monkeypatch.setattr(features, "PURSUITS_PER_READ", 7)  # every org read in several shares
        assert read_pursuit_facts(con).equals(whole)
    finally:
        con.close()
