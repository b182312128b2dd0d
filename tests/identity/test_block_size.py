"""The matcher's blocks have a size limit: a key that many records share (one name at many companies, as
a catalog of a few names gives) is left out for that rule and counted, instead of comparing every pair
of its records, whose number grows with the square of the block."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson

from dagster_project.apply.runner import enqueue_file_events, run_apply
from dagster_project.config.registry import DEFAULTS
from dagster_project.identity.resolve import resolve_people
from dagster_project.identity.store import resolve_identities
from dagster_project.ingestion.ingest import ingest_paths
from dagster_project.ingestion.readers import list_inbox
from dagster_project.settings import HomePaths
from dagster_project.warehouse.store import connect, ensure_raw_schema
from tests.identity.test_resolve import _warehouse, person
from tests.lifecycle.timeline import ev

CAP = DEFAULTS["identity.max_block_size"]


def _namesakes(n: int) -> list[dict]:
    """`n` people called Jose Alvarez, each at a company of their own: one name block, one local-part
    block, no two of them one person."""
    return [
        person(f"s{k:04d}", "signal", name="José Álvarez", email=f"jose.alvarez@firm{k}.example")
        for k in range(n)
    ]


def _twins() -> list[dict]:
    """Two records of one person that only the model joins (the email's local part differs by a typo)."""
    return [
        person("c1", name="Ana Lima", email="ana.lima@shop.example", phone="+1 415 555 0100"),
        person("c2", name="Lima, Ana", email="ana.lema@shop.example", phone="(415) 555-0100"),
    ]


def _resolve(records: list[dict], max_block_size: int | None):
    return resolve_people(
        "acme", records, [], region="US", min_records=1, threshold=0.95, max_block_size=max_block_size
    )


def test_a_name_block_larger_than_the_limit_is_not_compared_pair_by_pair_and_is_reported():
    n = CAP + 20
    result = _resolve([*_namesakes(n), *_twins()], CAP)
    namesakes = {f"signal:s{k:04d}" for k in range(n)}
    assert not [
        p for p in result.pairs.to_dicts() if p["left_id"] in namesakes and p["right_id"] in namesakes
    ]
    assert [(b.rule, b.records, b.pairs) for b in result.skipped_blocks] == [
        ("email_local", n, n * (n - 1) // 2),
        ("first_name+last_name", n, n * (n - 1) // 2),
    ]


def test_without_a_limit_the_same_block_gives_every_pair_of_its_records():
    n = CAP + 20
    result = _resolve(_namesakes(n), None)
    assert result.pairs.height == n * (n - 1) // 2 and result.skipped_blocks == []


def test_the_records_of_a_skipped_block_still_match_through_the_other_rules():
    result = _resolve([*_namesakes(CAP + 20), *_twins()], CAP)
    canonical = dict(result.links.select("record_id", "canonical_id").rows())
    assert canonical["c1"] == canonical["c2"]
    assert len(set(canonical.values())) == CAP + 20 + 1


def test_a_block_within_the_limit_is_compared_as_before():
    small = _resolve([*_namesakes(CAP), *_twins()], CAP)
    unlimited = _resolve([*_namesakes(CAP), *_twins()], None)
    assert (
        small.skipped_blocks == []
        and small.pairs.equals(unlimited.pairs)
        and small.links.equals(unlimited.links)
    )


def test_the_identity_step_counts_the_blocks_it_left_out():
    n = CAP + 1
    events = [
        ev(f"e{k}", "contact.updated", f"c{k:04d}", k, {"name": "Li Na", "email": f"li.na@firm{k}.example"})
        for k in range(n)
    ]
    report = resolve_identities(_warehouse(events))
    assert (report.skipped_blocks, report.skipped_pairs) == (2, 2 * (n * (n - 1) // 2))


def test_the_apply_reports_the_blocks_its_identity_step_left_out(tmp_path):
    now = datetime(2030, 1, 1, tzinfo=UTC)
    n = CAP + 1
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    events = [
        ev(f"e{k}", "contact.updated", f"c{k:04d}", k, {"name": "Li Na", "email": f"li.na@firm{k}.example"})
        for k in range(n)
    ]
    (inbox / "people.jsonl").write_bytes(b"\n".join(orjson.dumps(e) for e in events) + b"\n")
    paths = HomePaths(tmp_path / "home").ensure()
    con = connect(paths.warehouse)
    ensure_raw_schema(con)
    for f in ingest_paths(con, list_inbox(inbox, settle_seconds=0), now=now).ingested:
        enqueue_file_events(con, paths.control, f.file, now, now)
    report = run_apply(con, paths.control, now=now, as_of=now, worker="test")
    assert (report.identity_orgs, report.identity_skipped_blocks) == (1, 2)
