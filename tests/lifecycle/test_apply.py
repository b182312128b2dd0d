"""The incremental apply (re-fold the touched clusters) equals one fold of everything, in any batching."""

from __future__ import annotations

import random
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from dagster_project.apply.batch import apply_batch
from dagster_project.config.registry import ConfigRegistry
from dagster_project.lifecycle.fold import TRANSITION_COLUMNS, fold, fold_all
from dagster_project.memory.capture import capture_atoms
from dagster_project.warehouse.store import connect

NOW = datetime(2030, 1, 1, tzinfo=UTC)

ENTITY_KEYS = {
    "signals": ("org_id", "signal_id"),
    "candidates": ("org_id", "candidate_id"),
    "pursuits": ("org_id", "pursuit_id"),
}


def _events(con) -> list[dict]:
    rows = con.execute(
        "select org_id, event_id, occurred_at, event_name, entity_type, entity_id, actor, payload from raw.events"
    ).fetchall()
    names = (
        "org_id",
        "event_id",
        "occurred_at",
        "event_name",
        "entity_type",
        "entity_id",
        "actor",
        "payload",
    )
    return [dict(zip(names, r[:-1], strict=False)) | {"payload": orjson.loads(r[-1])} for r in rows]


def _table(con, table: str, columns: list[str]) -> list[tuple]:
    cols = ", ".join(columns)
    return sorted(con.execute(f"select {cols} from core.{table}").fetchall(), key=repr)


def _expected(rows: list[dict], columns: list[str]) -> list[tuple]:
    return sorted((tuple(r.get(c) for c in columns) for r in rows), key=repr)


def _copy(path: Path, tmp_path: Path) -> Path:
    target = tmp_path / "w.duckdb"
    shutil.copy(path, target)
    return target


@pytest.mark.slow
@pytest.mark.parametrize("batches", [1, 7, 40])
def test_batched_apply_equals_one_fold(sample_warehouse, tmp_path, batches):
    con = connect(_copy(sample_warehouse, tmp_path))
    events = _events(con)
    as_of = max(e["occurred_at"] for e in events) + timedelta(hours=1)
    keys = [(e["org_id"], e["event_id"]) for e in events]
    random.Random(batches).shuffle(keys)
    size = -(-len(keys) // batches)
    for i in range(0, len(keys), size):
        apply_batch(con, keys[i : i + size], as_of=as_of, now=NOW)
    expected = fold_all(events, as_of=as_of)

    for table in ("signals", "candidates"):
        columns = ["org_id", "status", "owner", "entered_state_at", "last_event_at", ENTITY_KEYS[table][1]]
        assert _table(con, table, columns) == _expected(getattr(expected, table), columns), table
    columns = ["org_id", "pursuit_id", "stage", "owner", "red_completion_pct", "outcome", "closed_at"]
    assert _table(con, "pursuits", columns) == _expected(expected.pursuits, columns)
    columns = list(TRANSITION_COLUMNS)
    assert _table(con, "transitions", columns) == _expected(expected.transitions, columns)
    columns = ["org_id", "event_id", "rule", "detail", "outcome"]
    assert _table(con, "rejected_events", columns) == _expected(expected.rejected_events, columns)
    outcomes = sorted(con.execute("select org_id, event_id, outcome from core.event_outcomes").fetchall())
    assert outcomes == sorted((org, ev, out) for (org, ev), out in expected.outcomes.items())
    clients = con.execute(
        "select org_id, client_id, max(name), max(domain), min(created_at), max(last_event_at) "
        "from core.client_parts group by all order by all"
    ).fetchall()
    want = sorted(
        (c["org_id"], c["client_id"], c["name"], c["domain"], c["created_at"], c["last_event_at"])
        for c in expected.clients
    )
    assert clients == want
    atoms = sorted(
        con.execute(
            "select org_id, atom_id, atom_type, entity_id, client_id, content, version from core.memory_atoms"
        ).fetchall()
    )
    want_atoms = []
    for org in sorted({e["org_id"] for e in events}):
        org_events = [e for e in events if e["org_id"] == org]
        result = fold(org_events, as_of=as_of)
        memory = capture_atoms(org_events, result, ConfigRegistry.from_events(org_events), as_of)
        want_atoms += [
            (
                a["org_id"],
                a["atom_id"],
                a["atom_type"],
                a["entity_id"],
                a["client_id"],
                a["content"],
                a["version"],
            )
            for a in memory.atoms
        ]
    assert atoms == sorted(want_atoms) and atoms
    config = sorted(
        con.execute("select org_id, key, value, effective_from, source from core.config_registry").fetchall(),
        key=repr,
    )
    assert config == _expected(
        expected.config_registry, ["org_id", "key", "value", "effective_from", "source"]
    )


def test_a_poison_cluster_is_skipped_and_reported(sample_warehouse, tmp_path):
    con = connect(_copy(sample_warehouse, tmp_path))
    events = _events(con)
    as_of = max(e["occurred_at"] for e in events) + timedelta(hours=1)
    keys = [(e["org_id"], e["event_id"]) for e in events]
    victim = next(e for e in events if e["event_name"] == "candidate.promoted")

    def fault(org_id, cluster_id, cluster_events):
        if any(e["event_id"] == victim["event_id"] for e in cluster_events):
            raise RuntimeError("poison")

    report = apply_batch(con, keys, as_of=as_of, now=NOW, fault=fault)
    assert len(report.failed) == 1
    assert (victim["org_id"], victim["event_id"]) in report.failed_keys
    healthy = con.execute("select count(*) from core.event_outcomes").fetchone()[0]
    assert healthy == len(events) - len(report.failed_keys)
    assert (
        con.execute(
            "select count(*) from core.pursuits where org_id = ? and pursuit_id = ?",
            [victim["org_id"], victim["payload"]["pursuit_id"]],
        ).fetchone()[0]
        == 0
    )
    # Once the poison is gone (a fix), a retry of the failed keys completes the picture.
    apply_batch(con, list(report.failed_keys), as_of=as_of, now=NOW)
    assert con.execute("select count(*) from core.event_outcomes").fetchone()[0] == len(events)


def test_moving_the_as_of_applies_and_unapplies_the_events_it_passes(sample_warehouse, tmp_path):
    con = connect(_copy(sample_warehouse, tmp_path))
    events = _events(con)
    times = sorted(e["occurred_at"] for e in events)
    middle, end = times[len(times) // 2], times[-1]
    keys = [(e["org_id"], e["event_id"]) for e in events]
    columns = list(TRANSITION_COLUMNS)
    apply_batch(con, keys, as_of=middle, now=NOW)
    assert _table(con, "transitions", columns) == _expected(
        fold_all(events, as_of=middle).transitions, columns
    )
    apply_batch(con, [], as_of=end, now=NOW)  # nothing new: only the as-of moved forward
    assert _table(con, "transitions", columns) == _expected(fold_all(events, as_of=end).transitions, columns)
    apply_batch(con, [], as_of=middle, now=NOW)  # and back
    assert _table(con, "transitions", columns) == _expected(
        fold_all(events, as_of=middle).transitions, columns
    )
    n = con.execute("select count(*) from core.event_outcomes").fetchone()[0]
    assert n == sum(1 for e in events if e["occurred_at"] <= middle)


def test_a_time_hint_that_misses_claimed_keys_does_not_lose_them(sample_warehouse, tmp_path):
    con = connect(_copy(sample_warehouse, tmp_path))
    events = _events(con)
    as_of = max(e["occurred_at"] for e in events) + timedelta(hours=1)
    keys = [(e["org_id"], e["event_id"]) for e in events]
    first = min(e["occurred_at"] for e in events)
    # A hint covering one minute of a months-long sample: the lookup must fall back to the whole log.
    report = apply_batch(con, keys, as_of=as_of, now=NOW, keys_between=(first, first + timedelta(minutes=1)))
    assert report.events_in == len(events)
    outcomes = sorted(con.execute("select org_id, event_id, outcome from core.event_outcomes").fetchall())
    expected = fold_all(events, as_of=as_of)
    assert outcomes == sorted((org, ev, out) for (org, ev), out in expected.outcomes.items())


def test_a_refold_reads_a_cluster_from_its_first_event_and_old_warehouses_are_upgraded(
    sample_warehouse, tmp_path
):
    con = connect(_copy(sample_warehouse, tmp_path))
    events = sorted(_events(con), key=lambda e: (e["occurred_at"], e["event_id"]))
    as_of = events[-1]["occurred_at"] + timedelta(hours=1)
    keys = [(e["org_id"], e["event_id"]) for e in events]
    cut = len(keys) * 9 // 10
    apply_batch(con, keys[:cut], as_of=as_of, now=NOW)
    earliest = dict(
        con.execute(
            "select org_id || '/' || entity_type || '/' || entity_id, first_event_at from core.entity_clusters"
        ).fetchall()
    )
    by_entity: dict[str, datetime] = {}
    for e in events:  # a fold reads every event of its clusters up to the as-of, claimed yet or not
        name = f"{e['org_id']}/{e['entity_type']}/{e['entity_id']}"
        by_entity[name] = min(by_entity.get(name, e["occurred_at"]), e["occurred_at"])
    assert len(earliest) > 100
    assert {k: v for k, v in earliest.items() if v is not None} == {
        k: by_entity[k] for k in earliest if k in by_entity
    }
    # A warehouse from before the column: the upgrade fills it from the log.
    con.execute("alter table core.entity_clusters drop column first_event_at")
    report = apply_batch(con, keys[cut:], as_of=as_of, now=NOW)
    assert report.events_in == len(keys) - cut
    expected = fold_all(events, as_of=as_of)
    outcomes = sorted(con.execute("select org_id, event_id, outcome from core.event_outcomes").fetchall())
    assert outcomes == sorted((org, ev, out) for (org, ev), out in expected.outcomes.items())
    columns = list(TRANSITION_COLUMNS)
    assert _table(con, "transitions", columns) == _expected(expected.transitions, columns)
    assert (
        con.execute("select count(*) from core.entity_clusters where first_event_at is null").fetchone()[0]
        == 0
    )


def _inject(con, event: dict) -> None:
    """Write an event into the log as an ingest would have accepted it (no validation on the way)."""
    con.execute(
        """insert into raw.events (org_id, event_id, occurred_at, event_name, entity_type, entity_id, actor,
                                  payload, content_hash, ingested_at, source_file, source_line)
           values ($org_id, $event_id, $occurred_at::timestamptz, $event_name, $entity_type, $entity_id,
                   'poison@test', $payload, $event_id, $now, 'poison.jsonl', 1)""",
        {**event, "now": NOW},
    )


POISONS = {
    "year zero": {"occurred_at": "0000-06-01 00:00:00+00", "payload": "{}"},
    "nesting past the JSON library's limit": {
        "occurred_at": "2026-10-05 12:00:00+00",
        "payload": '{"deep": ' + "[" * 1100 + "]" * 1100 + "}",
    },
}


@pytest.mark.parametrize("poison", sorted(POISONS))
def test_an_event_python_cannot_load_fails_its_own_cluster_and_the_rest_of_the_batch_commits(
    sample_warehouse, tmp_path, poison
):
    con = connect(_copy(sample_warehouse, tmp_path))
    events = _events(con)
    as_of = max(e["occurred_at"] for e in events) + timedelta(hours=1)
    target = next(e for e in events if e["event_name"] == "signal.created")
    _inject(
        con,
        {
            "org_id": target["org_id"],
            "event_id": "poison-1",
            "event_name": "signal.touched",
            "entity_type": "signal",
            "entity_id": target["entity_id"],
            **POISONS[poison],
        },
    )
    keys = [(e["org_id"], e["event_id"]) for e in events] + [(target["org_id"], "poison-1")]

    report = apply_batch(con, keys, as_of=as_of, now=NOW)

    assert list(report.failed) == [report.failed_cluster[(target["org_id"], "poison-1")]]
    assert report.failed_cluster[(target["org_id"], "poison-1")][0] == target["org_id"]
    assert (target["org_id"], target["event_id"]) in report.failed_keys  # the cluster goes as one
    judged = con.execute("select count(*) from core.event_outcomes").fetchone()[0]
    assert judged == len(keys) - len(report.failed_keys) > 0
    assert con.execute("select count(distinct org_id) from core.event_outcomes").fetchone()[0] == len(
        {e["org_id"] for e in events}
    )


def test_rows_that_do_not_fit_the_core_tables_fail_only_their_cluster(sample_warehouse, tmp_path):
    con = connect(_copy(sample_warehouse, tmp_path))
    events = _events(con)
    as_of = max(e["occurred_at"] for e in events) + timedelta(hours=1)
    sent = next(e for e in events if e["event_name"] == "pursuit.proposal_sent")
    # A proposal version no 32-bit column holds: the fold keeps it, the write cannot.
    _inject(
        con,
        {
            "org_id": sent["org_id"],
            "event_id": "poison-1",
            "event_name": "pursuit.proposal_sent",
            "entity_type": sent["entity_type"],
            "entity_id": sent["entity_id"],
            "occurred_at": sent["occurred_at"].isoformat(),
            "payload": orjson.dumps({**sent["payload"], "version": 2**40}).decode(),
        },
    )
    keys = [(e["org_id"], e["event_id"]) for e in events] + [(sent["org_id"], "poison-1")]

    report = apply_batch(con, keys, as_of=as_of, now=NOW)

    assert list(report.failed) == [report.failed_cluster[(sent["org_id"], "poison-1")]]
    judged = con.execute("select count(*) from core.event_outcomes").fetchone()[0]
    assert judged == len(keys) - len(report.failed_keys) > 0


def test_a_config_event_python_cannot_load_fails_alone_and_its_org_still_applies(sample_warehouse, tmp_path):
    con = connect(_copy(sample_warehouse, tmp_path))
    events = _events(con)
    as_of = max(e["occurred_at"] for e in events) + timedelta(hours=1)
    org = sorted({e["org_id"] for e in events})[0]
    _inject(
        con,
        {
            "org_id": org,
            "event_id": "poison-config",
            "event_name": "config.changed",
            "entity_type": "org",
            "entity_id": org,
            "occurred_at": "2026-10-05 12:00:00+00",
            "payload": '{"key": "gate_mode", "value": ' + "[" * 1100 + "]" * 1100 + "}",
        },
    )
    keys = [(e["org_id"], e["event_id"]) for e in events] + [(org, "poison-config")]

    report = apply_batch(con, keys, as_of=as_of, now=NOW)

    assert list(report.failed_keys) == [(org, "poison-config")]
    judged = con.execute("select count(*) from core.event_outcomes where org_id = ?", [org]).fetchone()[0]
    assert judged == sum(e["org_id"] == org for e in events)
