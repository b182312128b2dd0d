"""`lib/governance.py`: a Memory-page request becomes one contract event in one inbox file, atomically."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import uuid
from pathlib import Path

import duckdb
import pytest

from dagster_project.contract.events import ENVELOPE_FIELDS, EVENTS, ORG_ID_PATTERN
from dagster_project.ingestion.readers import file_format, list_inbox, read_batches
from dagster_project.ingestion.validation import validate_batch
from dagster_project.settings import ENV_NOW, parse_timestamp
from streamlit_app.lib import governance

NOW = dt.datetime(2024, 5, 10, 12, 30, 15, 123456, tzinfo=dt.UTC)
REDACT = {
    "event_name": governance.REDACTED,
    "org_id": "acme",
    "entity_type": "candidate",
    "entity_id": "cand-a1",
    "atom_id": "m-a2",
    "actor": "alice@acme",
    "reason": "Personal data about a board member",
}
CORRECT = {**REDACT, "event_name": governance.CORRECTED, "content": "The board approved the HQ budget"}


def _events(path: Path) -> list[dict]:
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [json.loads(line) for line in lines]


def _validation_reasons(path: Path, now: dt.datetime) -> list[str | None]:
    """The ingest validator's verdict per record of the file (None = valid)."""
    with duckdb.connect() as con:
        con.execute("SET TimeZone = 'UTC'")  # as the warehouse connection does
        reasons: list[str | None] = []
        for batch in read_batches(path, file_format(path)):
            validate_batch(con, batch, now=now)
            reasons += [row[0] for row in con.execute("select reason from validated").fetchall()]
    return reasons


@pytest.mark.parametrize("fields", [REDACT, CORRECT], ids=["redacted", "corrected"])
def test_the_file_holds_one_valid_contract_event(tmp_path: Path, fields: dict) -> None:
    inbox = tmp_path / "inbox"  # created on demand
    path = governance.write_request(inbox, **fields, now=NOW)

    assert path.parent == inbox
    match = re.fullmatch(r"governance-(.+)\.jsonl", path.name)
    assert match and uuid.UUID(match.group(1))
    (event,) = _events(path)
    assert tuple(sorted(event)) == tuple(sorted(ENVELOPE_FIELDS))
    assert event["event_id"] == match.group(1)
    assert re.fullmatch(ORG_ID_PATTERN, event["org_id"])
    assert event["occurred_at"] == "2024-05-10T12:30:15.123456+00:00"  # RFC 3339 with offset, UTC
    assert parse_timestamp(event["occurred_at"]) == NOW
    assert event["event_name"] == fields["event_name"]
    spec = EVENTS[event["event_name"]]
    assert event["entity_type"] in spec.entity_types
    assert (event["entity_type"], event["entity_id"], event["actor"]) == (
        "candidate",
        "cand-a1",
        "alice@acme",
    )
    assert set(spec.required) <= set(event["payload"])
    expected_payload = {"atom_id": "m-a2", "reason": fields["reason"]}
    if "content" in fields:
        expected_payload["content"] = fields["content"]
    assert event["payload"] == expected_payload
    # The pipeline's own validator accepts it, and the inbox scan picks the file up.
    assert _validation_reasons(path, NOW) == [None]
    assert list_inbox(inbox, settle_seconds=0) == [path]


def test_each_request_gets_a_fresh_event_id_and_file(tmp_path: Path) -> None:
    first = governance.write_request(tmp_path, **REDACT)
    second = governance.write_request(tmp_path, **REDACT)
    assert first != second
    ids = {_events(p)[0]["event_id"] for p in (first, second)}
    assert len(ids) == 2
    # Without `now`, occurred_at is the current time in UTC, with its offset.
    stamp = _events(first)[0]["occurred_at"]
    assert stamp.endswith("+00:00")
    assert abs(parse_timestamp(stamp) - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=1)


def test_written_through_a_tmp_file_and_renamed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    renames: list[tuple[Path, Path]] = []
    real_replace = os.replace

    def spy(src: str | Path, dst: str | Path) -> None:
        src, dst = Path(src), Path(dst)
        # At the moment of the rename the final name does not exist yet and the temp file is complete.
        assert not dst.exists()
        assert src.name.endswith(".jsonl.tmp") and src.read_text(encoding="utf-8").endswith("\n")
        assert list_inbox(tmp_path, settle_seconds=0) == []  # the ingest skips *.tmp
        renames.append((src, dst))
        real_replace(src, dst)

    monkeypatch.setattr(governance.os, "replace", spy)
    path = governance.write_request(tmp_path, **CORRECT, now=NOW)
    assert renames == [(path.with_name(path.name + ".tmp"), path)]
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]


def test_a_failed_write_leaves_nothing_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(src: str | Path, dst: str | Path) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(governance.os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        governance.write_request(tmp_path, **REDACT, now=NOW)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "change",
    [
        {"reason": ""},
        {"reason": "   \n"},
        {"actor": ""},
        {"atom_id": ""},
        {"entity_id": " "},
        {"org_id": "Acme Corp"},
        {"entity_type": "org"},
        {"event_name": "memory.recorded"},
        {"event_name": governance.CORRECTED, "content": ""},
        {"event_name": governance.CORRECTED},
    ],
    ids=lambda change: ",".join(f"{k}={v!r}" for k, v in change.items()),
)
def test_nothing_is_written_for_an_invalid_request(tmp_path: Path, change: dict) -> None:
    inbox = tmp_path / "inbox"
    with pytest.raises(ValueError):
        governance.write_request(inbox, **{**REDACT, **change}, now=NOW)
    assert not inbox.exists() or list(inbox.iterdir()) == []


def test_texts_are_stripped_and_naive_times_refused(tmp_path: Path) -> None:
    path = governance.write_request(
        tmp_path, **{**CORRECT, "reason": "  typo \n", "content": " Fixed text ", "actor": " a@b "}, now=NOW
    )
    event = _events(path)[0]
    assert event["payload"] == {"atom_id": "m-a2", "content": "Fixed text", "reason": "typo"}
    assert event["actor"] == "a@b"
    with pytest.raises(ValueError, match="timezone"):
        governance.build_event(**REDACT, now=dt.datetime(2024, 5, 10, 12, 0))


def test_a_request_is_stamped_with_the_pipelines_clock_not_the_wall_clock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the clock frozen (a demo, a test), a request stamped by the wall clock could lie after the
    ingest clock and be quarantined as `future_timestamp`; stamped by the same clock it is valid."""
    monkeypatch.setenv(ENV_NOW, NOW.isoformat())
    path = governance.write_request(tmp_path, **REDACT)
    (event,) = _events(path)
    assert parse_timestamp(event["occurred_at"]) == NOW
    assert _validation_reasons(path, NOW) == [None]


def test_without_now_the_event_time_comes_from_the_injectable_clock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WORKSTREAM_NOW", "2024-05-10T14:30:15.123456+02:00")
    path = governance.write_request(tmp_path, **REDACT)
    assert _events(path)[0]["occurred_at"] == "2024-05-10T12:30:15.123456+00:00"


ATOMS = [
    governance.AtomRef("candidate", "cand-a1", "m-a2", "risk", "Budget freeze risk: the board may delay", 2),
    governance.AtomRef(
        "candidate", "cand-a1", "m-a2-note", "note", "BUDGET FREEZE RISK: the board may delay", 1
    ),
    governance.AtomRef("pursuit", "p-100", "m-p", "decision", "Escalated. Budget freeze risk: the board", 1),
]
MANY = {k: v for k, v in REDACT.items() if k not in ("entity_type", "entity_id", "atom_id")}


def test_one_request_over_several_atoms_is_one_file_of_one_valid_event_per_atom(tmp_path: Path) -> None:
    path, events = governance.write_requests(tmp_path, **MANY, atoms=[*ATOMS, ATOMS[0]], now=NOW)
    assert _events(path) == events
    assert path.name == f"governance-{events[0]['event_id']}.jsonl"
    assert [(e["entity_type"], e["entity_id"], e["payload"]["atom_id"]) for e in events] == [
        (a.entity_type, a.entity_id, a.atom_id) for a in ATOMS
    ]  # the atom named twice is redacted once
    assert len({e["event_id"] for e in events}) == len(ATOMS)
    assert {e["occurred_at"] for e in events} == {"2024-05-10T12:30:15.123456+00:00"}
    assert _validation_reasons(path, NOW) == [None] * len(ATOMS)
    assert list_inbox(tmp_path, settle_seconds=0) == [path]


@pytest.mark.parametrize(
    "atoms",
    [[], [ATOMS[0], governance.AtomRef("org", "acme", "m-x", "note", "text")]],
    ids=["no atom", "one invalid atom"],
)
def test_a_request_over_several_atoms_writes_nothing_when_one_is_invalid(tmp_path: Path, atoms: list) -> None:
    with pytest.raises(ValueError):
        governance.write_requests(tmp_path / "inbox", **MANY, atoms=atoms, now=NOW)
    assert not (tmp_path / "inbox").exists()


def test_a_confirmation_names_the_entity_the_atom_type_and_the_first_words() -> None:
    lines = governance.confirmation_lines(governance.REDACTED, ATOMS[:1])
    assert lines == [
        "Redact the risk atom m-a2 of candidate cand-a1: \u201cBudget freeze risk: the board may delay\u201d"
    ]
    long = governance.AtomRef(
        "client", "cli-a1", "m-a4", "preference", " one  two\nthree four five six seven eight nine"
    )
    (line,) = governance.confirmation_lines(governance.CORRECTED, [long])
    assert line.endswith("\u201cone two three four five six seven eight \u2026\u201d")
    assert line.startswith("Correct the preference atom m-a4 of client cli-a1")
