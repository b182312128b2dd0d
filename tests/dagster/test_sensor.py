"""The inbox sensor's decisions, tick by tick, with `build_sensor_context` (no daemon, no sleeping)."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import pytest

from dagster_project.control import store as control
from dagster_project.defs.automation import inbox_files_sensor, run_key_for
from dagster_project.ingestion.readers import content_hash
from dagster_project.settings import ENV_HOME, ENV_INBOX, HomePaths
from tests.events_factory import event, write_jsonl

OLD = 1_700_000_000  # an mtime well in the past: the file is complete


@pytest.fixture
def places(tmp_path: Path, monkeypatch) -> tuple[Path, HomePaths]:
    inbox, home = tmp_path / "inbox", tmp_path / "home"
    inbox.mkdir()
    monkeypatch.setenv(ENV_INBOX, str(inbox))
    monkeypatch.setenv(ENV_HOME, str(home))
    return inbox, HomePaths(home).ensure()


def _drop(inbox: Path, name: str, *ids: str, settled: bool = True) -> Path:
    path = write_jsonl(inbox / name, [event(i) for i in ids])
    if settled:
        os.utime(path, (OLD, OLD))
    return path


def _tick(cursor: str | None = None):
    context = dg.build_sensor_context(cursor=cursor)
    return inbox_files_sensor(context)


def test_empty_inbox_skips(places):
    assert isinstance(_tick(), dg.SkipReason)


def test_one_new_file_is_one_run_keyed_by_its_hash(places):
    inbox, _ = places
    path = _drop(inbox, "a.jsonl", "e1")
    result = _tick()
    assert [r.run_key for r in result.run_requests] == [content_hash(path)]


def test_many_new_files_are_one_run(places):
    inbox, _ = places
    paths = [_drop(inbox, f"{n}.jsonl", n) for n in ("a", "b", "c")]
    result = _tick()
    assert len(result.run_requests) == 1
    assert result.run_requests[0].run_key == run_key_for([content_hash(p) for p in paths])


def test_ingested_files_are_not_requested_again(places):
    inbox, home = places
    done = _drop(inbox, "a.jsonl", "e1")
    control.record_ingested(
        home.control, [(content_hash(done), "a.jsonl", "ok")], at=datetime(2026, 1, 1, tzinfo=UTC)
    )
    assert isinstance(_tick(), dg.SkipReason)
    fresh = _drop(inbox, "b.jsonl", "e2")
    result = _tick()
    assert [r.run_key for r in result.run_requests] == [content_hash(fresh)]


def test_renamed_copy_of_an_ingested_file_is_nothing_new(places):
    inbox, home = places
    done = _drop(inbox, "a.jsonl", "e1")
    control.record_ingested(
        home.control, [(content_hash(done), "a.jsonl", "ok")], at=datetime(2026, 1, 1, tzinfo=UTC)
    )
    (inbox / "copy.jsonl").write_bytes(done.read_bytes())
    os.utime(inbox / "copy.jsonl", (OLD, OLD))
    assert isinstance(_tick(), dg.SkipReason)


def test_files_still_being_written_dotfiles_and_tmp_wait(places):
    inbox, _ = places
    _drop(inbox, "growing.jsonl", "e1", settled=False)
    _drop(inbox, ".hidden.jsonl", "e2")
    _drop(inbox, "partial.jsonl.tmp", "e3")
    assert isinstance(_tick(), dg.SkipReason)


def test_cursor_caches_hashes_and_a_repeated_tick_gives_the_same_key(places):
    inbox, _ = places
    path = _drop(inbox, "a.jsonl", "e1")
    first = _tick()
    cursor = json.loads(first.cursor)
    assert cursor["hashes"][str(path)][2] == content_hash(path)
    # A failed tick keeps the old cursor: re-evaluating gives the same run key, which Dagster dedupes.
    again = _tick(first.cursor)
    assert again.run_requests[0].run_key == first.run_requests[0].run_key


def test_a_link_in_the_inbox_is_not_a_new_file(places, tmp_path: Path):
    inbox, _ = places
    outside = write_jsonl(tmp_path / "secret.jsonl", [event("secret")])
    (inbox / "link.jsonl").symlink_to(outside)
    assert isinstance(_tick(), dg.SkipReason)


def test_a_file_gone_or_made_a_link_between_listing_and_hashing_is_left_for_the_next_tick(
    places, tmp_path: Path, monkeypatch
):
    import dagster_project.defs.automation as automation

    inbox, _ = places
    kept = _drop(inbox, "b.jsonl", "e2")
    gone, linked = inbox / "a-gone.jsonl", inbox / "a-link.jsonl"
    linked.symlink_to(write_jsonl(tmp_path / "secret.jsonl", [event("secret")]))
    monkeypatch.setattr(automation, "list_inbox", lambda _inbox: [gone, linked, kept])

    result = _tick()

    assert [r.run_key for r in result.run_requests] == [content_hash(kept)]
