"""Marts built incrementally over several drops equal a full-refresh build of the same home, row for row
(win scoring's tables included: the drops keep the rows of orgs they do not reach, the full refresh
scores every org again)."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import duckdb
import pytest

from dagster_project.defs.resources import dbt_project
from dagster_project.defs.transform import workstream_dbt_assets
from dagster_project.warehouse.static_nodes import static_unique_ids
from tests.erasure_scan import hits_everywhere
from tests.events_factory import event, write_jsonl
from tests.integration.memory_events import NOW, ORG, age, org_event
from tests.shared_homes import GENERATED_END, copy_home, generated_inbox, generated_past_home, run_in_memory

pytestmark = pytest.mark.integration

MIDWAY = "2026-11-10T00:00:00+00:00"


def _marts(home: Path) -> dict[str, list[tuple]]:
    """Every relation of the warehouse's `marts` schema, its rows sorted (NULLs first)."""
    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    try:
        con.execute("SET TimeZone = 'UTC'")
        names = [
            name
            for (name,) in con.execute(
                "select table_name from information_schema.tables where table_schema = 'marts' order by 1"
            ).fetchall()
        ]
        return {
            name: sorted(
                con.execute(f'select * from marts."{name}"').fetchall(),
                key=lambda row: [(value is not None, str(value)) for value in row],
            )
            for name in names
        }
    finally:
        con.close()


def _drop(inbox: Path, name: str, events: list[dict]) -> None:
    write_jsonl(inbox / name, events)
    age(inbox)


def test_marts_built_over_several_drops_equal_a_full_refresh_build(tmp_path, tmp_path_factory):
    secret = f"SECRET-{uuid.uuid4().hex}"
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for path in generated_inbox(tmp_path_factory).iterdir():
        if path.is_file() and not path.name.startswith("."):
            shutil.copy(path, inbox / path.name)
    age(inbox)

    # 1. The generated history as of a past time: events after it wait in the log. That home is the
    #    session's shared one (tests/shared_homes.py), built from the same files with the same clock;
    #    this test writes, so it works on a copy. The ledger knows files by name, not by folder.
    home = copy_home(generated_past_home(tmp_path_factory), tmp_path / "home")
    # 2. No new file, the as-of moves on: the apply re-folds the clusters the waiting events reach.
    second = run_in_memory(home, inbox, as_of=MIDWAY, now=NOW, tests=False)
    assert second["assets"]["raw/events"]["files_new"] == 0, "the copied inbox's files were seen before"
    # The shared home's first build made the views and seeds of this project: the drops leave them out
    # (dagster_project/warehouse/static_nodes.py), the full refresh below makes them again, and the
    # marts compared at the end read both ways.
    ids = set(static_unique_ids(dbt_project.manifest_path))
    static = {
        key.to_user_string()
        for key, spec in workstream_dbt_assets.specs_by_key.items()
        if spec.metadata["dagster_dbt/unique_id"] in ids
    }
    assert static and not static & set(second["assets"]), "a drop rebuilt the unchanged views and seeds"
    assert "serving_snapshot" in second["assets"], "the drop was not published"
    # 3. A drop with a new candidate, a note, a recorded atom and its correction, and a late event
    #    (occurred before the as-of of earlier runs).
    _drop(
        inbox,
        "drop-3.jsonl",
        [
            org_event(
                "c1-new", "candidate.created", "candidate", "c1", "2026-11-20T10:00:00+00:00", title="Fleet"
            ),
            org_event(
                "late-1",
                "candidate.note_added",
                "candidate",
                "c1",
                "2026-11-01T08:00:00+00:00",
                text="late note",
            ),
            org_event(
                "m1",
                "memory.recorded",
                "candidate",
                "c1",
                "2026-11-20T12:00:00+00:00",
                atom_type="risk",
                content=f"Budget owner {secret} is leaving",
            ),
            org_event(
                "fix1",
                "memory.corrected",
                "candidate",
                "c1",
                "2026-11-20T13:00:00+00:00",
                atom_id="m1",
                content=f"Budget owner {secret} left",
                reason="update",
            ),
        ],
    )
    run_in_memory(home, inbox, as_of=GENERATED_END, now=NOW, tests=False)
    # 4. A redaction of that atom, a candidate moved on, and a note on an open pursuit of one of the
    #    generated orgs (win scoring scores that org again and keeps the other's rows).
    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    try:
        scored_org, pursuit = con.execute(
            "select org_id, pursuit_id from core.pursuits where outcome is null order by 1, 2 limit 1"
        ).fetchone()
    finally:
        con.close()
    _drop(
        inbox,
        "drop-4.jsonl",
        [
            event(
                "p-note-4",
                org_id=scored_org,
                event_name="pursuit.note_added",
                entity_type="pursuit",
                entity_id=pursuit,
                occurred_at="2026-11-21T11:00:00+00:00",
                payload={"text": "The buyer asked for a second reference call"},
            ),
            org_event(
                "r1",
                "memory.redacted",
                "candidate",
                "c1",
                "2026-11-21T09:00:00+00:00",
                atom_id="m1",
                reason="asked",
            ),
            org_event(
                "c1-triage",
                "candidate.status_changed",
                "candidate",
                "c1",
                "2026-11-21T10:00:00+00:00",
                to="triaged",
            ),
        ],
    )
    fourth = run_in_memory(home, inbox, as_of=GENERATED_END, now=NOW, tests=False)
    # Win scoring kept the rows of the orgs this drop did not reach; the full refresh scores every org.
    scoring = fourth["assets"]["scoring/pursuit_scores"]
    assert (scoring["orgs_scored"], scoring["orgs_kept"]) == (1, 1), scoring
    incremental = _marts(home)

    refreshed = tmp_path / "refreshed"
    shutil.copytree(home, refreshed)
    refresh = run_in_memory(refreshed, inbox, as_of=GENERATED_END, now=NOW, tests=False, full_refresh=True)
    assert static <= set(refresh["assets"])
    assert refresh["assets"]["scoring/pursuit_scores"]["orgs_kept"] == 0
    full = _marts(refreshed)

    assert set(incremental) == set(full)
    assert {name: len(rows) for name, rows in incremental.items()} == {
        name: len(rows) for name, rows in full.items()
    }
    for name in sorted(full):
        assert incremental[name] == full[name], f"marts.{name} differs from its full-refresh build"
    # The drops reached the kept marts, and the redaction reached every file under the home.
    candidates = {row[1]: row for row in incremental["candidates"] if row[0] == ORG}
    assert "c1" in candidates
    assert hits_everywhere(home, [secret]) == []
