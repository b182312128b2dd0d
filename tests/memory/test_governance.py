"""Scrubbing in the warehouse: redactions and the nightly purge of expired atoms replace the text in the
log and quarantine, once each; a DuckDB file rewrite leaves no old blocks behind."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import duckdb
import orjson
import pytest

from dagster_project.apply.runner import enqueue_file_events, run_apply
from dagster_project.defs.lifecycle import lifecycle_apply
from dagster_project.defs.resources import RunClockResource, WorkstreamResource
from dagster_project.ingestion.ingest import ingest_paths
from dagster_project.ingestion.readers import list_inbox
from dagster_project.memory.governance import purge_expired, rewrite_duckdb_file
from dagster_project.warehouse.store import connect, ensure_raw_schema
from tests.counting import CountingConnection
from tests.events_factory import event, write_jsonl

NOW = datetime(2026, 11, 28, 12, tzinfo=UTC)
AS_OF = datetime(2026, 11, 28, tzinfo=UTC)


def _ev(event_id, name, entity_type, entity_id, at, **payload):
    return event(
        event_id,
        org_id="acme",
        event_name=name,
        entity_type=entity_type,
        entity_id=entity_id,
        occurred_at=at,
        payload=payload,
    )


def _kept_two_days(atom_type: str) -> dict:
    """The org's config event keeping `atom_type` atoms for two days."""
    return _ev(
        "cfg",
        "config.changed",
        "org",
        "acme",
        "2026-11-01T00:00:00+00:00",
        key=f"memory.retention_days.{atom_type}",
        value=2,
    )


def _home(tmp_path: Path, events: list[dict]):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    write_jsonl(inbox / "a.jsonl", events)
    con = connect(tmp_path / "warehouse.duckdb")
    ensure_raw_schema(con)
    report = ingest_paths(con, list_inbox(inbox, settle_seconds=0), now=NOW)
    for f in report.ingested:
        enqueue_file_events(con, tmp_path / "control.sqlite", f.file, NOW, NOW)
    return con


def _payload(con, event_id: str) -> dict:
    return orjson.loads(
        con.execute("select payload from raw.events where event_id = ?", [event_id]).fetchone()[0]
    )


def test_a_redaction_scrubs_the_source_event_once(tmp_path):
    con = _home(
        tmp_path,
        [
            _ev("c1", "candidate.created", "candidate", "c1", "2026-11-20T10:00:00+00:00", title="T"),
            _ev(
                "n1",
                "candidate.note_added",
                "candidate",
                "c1",
                "2026-11-20T11:00:00+00:00",
                text="secret words",
            ),
            _ev(
                "r1",
                "memory.redacted",
                "candidate",
                "c1",
                "2026-11-20T12:00:00+00:00",
                atom_id="n1",
                reason="x",
            ),
        ],
    )
    report = run_apply(con, tmp_path / "control.sqlite", now=NOW, as_of=AS_OF, worker="t")
    assert report.scrubbed_redactions == 1
    assert _payload(con, "n1")["text"] == "[redacted: r1]"
    assert con.execute("select count(*) from core.memory_atoms where atom_id = 'n1'").fetchone()[0] == 0
    again = run_apply(con, tmp_path / "control.sqlite", now=NOW, as_of=AS_OF, worker="t")
    assert again.scrubbed_redactions == 0  # once


def test_several_redactions_in_one_run_each_scrub_their_own_sources(tmp_path):
    at = "2026-11-20T1{}:00:00+00:00".format
    con = _home(
        tmp_path,
        [
            _ev("c1", "candidate.created", "candidate", "c1", at(0), title="T"),
            _ev("n1", "candidate.note_added", "candidate", "c1", at(1), text="first secret"),
            _ev("n2", "candidate.note_added", "candidate", "c1", at(2), text="second secret"),
            _ev("n3", "candidate.note_added", "candidate", "c1", at(2), text="kept words"),
            _ev(
                "m1",
                "memory.recorded",
                "candidate",
                "c1",
                at(3),
                atom_type="risk",
                content="recorded secret",
                atom_id="atom-x",
            ),
            _ev(
                "k1",
                "memory.corrected",
                "candidate",
                "c1",
                at(4),
                atom_id="atom-x",
                content="corrected secret",
                reason="typo",
            ),
            _ev("r1", "memory.redacted", "candidate", "c1", at(5), atom_id="n1", reason="x"),
            _ev("r2", "memory.redacted", "candidate", "c1", at(6), atom_id="atom-x", reason="y"),
            _ev("r3", "memory.redacted", "candidate", "c1", at(7), atom_id="n2", reason="z"),
        ],
    )
    con.execute(
        """insert into raw.quarantine values
           ('h', 'bad.jsonl', 7, 'bad_json', null, '{"text": "second secret"', 'acme', null, $now)""",
        {"now": NOW},
    )
    report = run_apply(con, tmp_path / "control.sqlite", now=NOW, as_of=AS_OF, worker="t")
    assert report.scrubbed_redactions == 3
    assert _payload(con, "n1")["text"] == "[redacted: r1]"
    assert _payload(con, "n2")["text"] == "[redacted: r3]"
    assert _payload(con, "m1")["content"] == "[redacted: r2]"
    assert (
        _payload(con, "k1")["content"] == "[redacted: r2]"
        and _payload(con, "k1")["reason"] == "[redacted: r2]"
    )
    assert _payload(con, "n3")["text"] == "kept words"
    assert con.execute("select raw from raw.quarantine").fetchone()[0] == '{"text": "[redacted: r3]"'
    scrubbed = con.execute(
        "select audit_id, events_scrubbed, quarantine_rows_scrubbed from core.scrubbed order by audit_id"
    ).fetchall()
    # The correction k1 scrubbed m1's first content before r2 erased the rest.
    assert scrubbed == [("k1", 1, 0), ("r1", 1, 0), ("r2", 2, 0), ("r3", 1, 1)]


def test_the_nightly_purge_scrubs_expired_atoms_only(tmp_path):
    con = _expiring_notes(tmp_path)
    report = run_apply(con, tmp_path / "control.sqlite", now=NOW, as_of=AS_OF, worker="t")
    assert report.purged_atoms == 0 and _payload(con, "old")["text"] == "stale words"  # not without purge
    report = run_apply(con, tmp_path / "control.sqlite", now=NOW, as_of=AS_OF, worker="t", purge=True)
    assert report.purged_atoms >= 1
    assert _payload(con, "old")["text"] == "[redacted: expired:old]"
    assert _payload(con, "new")["text"] == "fresh words"


def _expiring_notes(tmp_path: Path):
    """Notes kept 2 days: `old` expired on 2026-11-22 11:00, `new` expires on 2026-11-29 11:00."""
    return _home(
        tmp_path,
        [
            _kept_two_days("note"),
            _ev("c1", "candidate.created", "candidate", "c1", "2026-11-20T10:00:00+00:00", title="T"),
            _ev(
                "old",
                "candidate.note_added",
                "candidate",
                "c1",
                "2026-11-20T11:00:00+00:00",
                text="stale words",
            ),
            _ev(
                "new",
                "candidate.note_added",
                "candidate",
                "c1",
                "2026-11-27T11:00:00+00:00",
                text="fresh words",
            ),
        ],
    )


def test_a_purge_of_many_expired_atoms_records_them_in_one_statement(tmp_path):
    """A first load of years of history expires most of its atoms at once: one insert per atom took
    minutes, so the purge's records go in together, with the same rows."""
    notes = [
        _ev(
            f"n{i}",
            "candidate.note_added",
            "candidate",
            "c1",
            f"2026-11-20T11:{i:02d}:00+00:00",
            text=f"words {i}",
        )
        for i in range(40)
    ]
    con = _home(
        tmp_path,
        [
            _kept_two_days("note"),
            _ev("c1", "candidate.created", "candidate", "c1", "2026-11-20T10:00:00+00:00", title="T"),
            *notes,
        ],
    )
    run_apply(con, tmp_path / "control.sqlite", now=NOW, as_of=AS_OF, worker="t")
    counting = CountingConnection(con)
    report = purge_expired(counting, as_of=AS_OF, now=NOW)
    assert report.redactions == 40
    assert sum("insert into core.scrubbed" in sql for sql in counting.statements) == 1
    rows = con.execute(
        "select org_id, audit_id, atom_id, events_scrubbed, quarantine_rows_scrubbed, scrubbed_at "
        "from core.scrubbed order by audit_id"
    ).fetchall()
    assert rows == sorted(("acme", f"expired:n{i}", f"n{i}", 1, 0, NOW) for i in range(40))
    assert _payload(con, "n7")["text"] == "[redacted: expired:n7]"


def test_the_purge_uses_the_earlier_of_the_as_of_and_the_clock(tmp_path):
    """An as-of a little ahead of the clock must not erase a note that has not expired in the real world."""
    con = _expiring_notes(tmp_path)
    clock = datetime(2026, 11, 29, 10, 58, tzinfo=UTC)
    as_of = datetime(2026, 11, 29, 11, 2, tzinfo=UTC)  # `new` expired as of this, not as of the clock
    run_apply(con, tmp_path / "control.sqlite", now=clock, as_of=as_of, worker="t", purge=True)
    assert _payload(con, "old")["text"] == "[redacted: expired:old]"
    assert _payload(con, "new")["text"] == "fresh words"


def _apply_step(home: Path, *, now: datetime, as_of: datetime, tags: dict[str, str] | None = None) -> dict:
    """The apply asset as a run (`workstream run`, or one a sensor launched) executes it; its metadata."""
    result = dg.materialize(
        [lifecycle_apply],
        resources={
            "workstream": WorkstreamResource(home=str(home), inbox=str(home / "inbox")),
            "clock": RunClockResource(now=now.isoformat(), as_of=as_of.isoformat()),
        },
        tags=tags,
    )
    (mat,) = result.asset_materializations_for_node("lifecycle_apply")[:1]
    return {k: v.value for k, v in mat.metadata.items()}


def test_every_run_purges_expired_atoms_not_only_the_nightly_one(tmp_path):
    _expiring_notes(tmp_path).close()
    figures = _apply_step(tmp_path, now=NOW, as_of=NOW)  # no schedule tag: an inbox or outbox run
    assert figures["expired_atoms_purged"] == 1
    con = connect(tmp_path / "warehouse.duckdb", read_only=True)
    try:
        assert _payload(con, "old")["text"] == "[redacted: expired:old]"
        assert _payload(con, "new")["text"] == "fresh words"
    finally:
        con.close()
    assert (tmp_path / ".redaction-rewrite").exists()  # publish rewrites the files that held the text


def test_a_run_as_of_the_past_purges_only_what_had_expired_by_then(tmp_path):
    _expiring_notes(tmp_path).close()
    figures = _apply_step(tmp_path, now=NOW, as_of=datetime(2026, 11, 21, tzinfo=UTC))
    assert figures["expired_atoms_purged"] == 0
    figures = _apply_step(tmp_path, now=NOW, as_of=datetime(2026, 11, 23, tzinfo=UTC))
    assert figures["expired_atoms_purged"] == 1


def test_a_run_tagged_not_to_purge_leaves_expired_text(tmp_path):
    _expiring_notes(tmp_path).close()
    figures = _apply_step(tmp_path, now=NOW, as_of=NOW, tags={"workstream/purge": "false"})
    assert figures["expired_atoms_purged"] == 0


def test_rewriting_a_duckdb_file_drops_deleted_data(tmp_path):
    path = tmp_path / "w.duckdb"
    con = duckdb.connect(str(path))
    con.execute(
        "create table t as select 'needle-' || range::varchar || repeat('x', 200) as s from range(20000)"
    )
    con.execute("checkpoint")
    con.execute("update t set s = 'gone'")
    con.execute("checkpoint")
    con.close()
    rewrite_duckdb_file(path)
    con = duckdb.connect(str(path), read_only=True)
    assert con.execute("select count(*), min(s) from t").fetchone() == (20000, "gone")
    con.close()
    assert b"needle-" not in path.read_bytes()


def test_rewriting_a_duckdb_file_keeps_every_object_and_each_tables_rows_in_order(tmp_path):
    """The copy is made schema first, then table by table: the tables (their constraints), views and
    macros of every schema come through, and each table's rows in the order they were stored."""
    path = tmp_path / "w.duckdb"
    con = duckdb.connect(str(path))
    con.execute("create schema core")
    con.execute('create schema "odd ""name"')
    con.execute("create table core.a (id integer primary key, s varchar not null)")
    con.execute("insert into core.a select 1000 - range, 'row ' || range from range(1000)")
    con.execute('create table "odd ""name".b as select range % 7 as k, [range, 2] as l from range(3000)')
    con.execute("create view core.v as select count(*) as n from core.a")
    con.execute("create macro core.twice(x) as 2 * x")
    con.execute("delete from core.a where id % 3 = 0")

    def state(c):
        return [
            c.execute("select schema_name, table_name, sql from duckdb_tables() order by all").fetchall(),
            c.execute(
                "select schema_name, view_name, sql from duckdb_views() where not internal order by all"
            ).fetchall(),
            c.execute("select table_name, constraint_type from duckdb_constraints() order by all").fetchall(),
            c.execute("select core.twice(21)").fetchall(),
            c.execute("select * from core.v").fetchall(),
            c.execute("select * from core.a").fetchall(),
            c.execute('select * from "odd ""name".b').fetchall(),
        ]

    before = state(con)
    con.close()
    rewrite_duckdb_file(path)
    con = duckdb.connect(str(path), read_only=True)
    try:
        assert state(con) == before
    finally:
        con.close()


def test_a_duplicate_of_an_erased_atom_loses_its_text_too(tmp_path):
    at = "2026-11-20T1{}:00:00+00:00".format
    con = _home(
        tmp_path,
        [
            _ev("c1", "candidate.created", "candidate", "c1", at(0), title="T"),
            # The same content twice on one entity is one atom (n1); n1b is its duplicate.
            _ev("n1", "candidate.note_added", "candidate", "c1", at(1), text="secret words here"),
            _ev("n1b", "candidate.note_added", "candidate", "c1", at(2), text="Secret  words HERE"),
            _ev("n2", "candidate.note_added", "candidate", "c1", at(3), text="old figure given"),
            _ev("n2b", "candidate.note_added", "candidate", "c1", at(4), text="old figure given"),
            # The same text on another entity is another atom, not erased with these.
            _ev("c2", "candidate.created", "candidate", "c2", at(0), title="U"),
            _ev("n3", "candidate.note_added", "candidate", "c2", at(1), text="secret words here"),
            _ev("r1", "memory.redacted", "candidate", "c1", at(5), atom_id="n1", reason="x"),
            _ev(
                "x1",
                "memory.corrected",
                "candidate",
                "c1",
                at(6),
                atom_id="n2",
                content="new figure",
                reason="y",
            ),
        ],
    )
    run_apply(con, tmp_path / "control.sqlite", now=NOW, as_of=AS_OF, worker="t")
    assert _payload(con, "n1b")["text"] == "[redacted: r1]"
    assert _payload(con, "n2b")["text"] == "[corrected: x1]"
    assert _payload(con, "n3")["text"] == "secret words here"
    atoms = dict(
        con.execute(
            "select atom_id, content from core.memory_atoms where entity_id in ('c1', 'c2')"
        ).fetchall()
    )
    assert atoms.get("n2") == "new figure" and atoms.get("n3") == "secret words here"
    assert not {"n1", "n1b", "n2b"} & set(atoms)


def test_a_quarantined_copy_arriving_after_the_scrub_is_erased_too(tmp_path):
    at = "2026-11-20T1{}:00:00+00:00".format
    note = _ev("n1", "candidate.note_added", "candidate", "c1", at(1), text="secret words here")
    con = _home(
        tmp_path,
        [
            _ev("c1", "candidate.created", "candidate", "c1", at(0), title="T"),
            note,
            _ev("r1", "memory.redacted", "candidate", "c1", at(5), atom_id="n1", reason="x"),
        ],
    )
    run_apply(con, tmp_path / "control.sqlite", now=NOW, as_of=AS_OF, worker="t")
    # Later, the note is re-sent with other words: a conflicting duplicate, quarantined whole.
    later = tmp_path / "later"
    later.mkdir()
    write_jsonl(later / "b.jsonl", [dict(note, payload={"text": "other private words"})])
    ingest_paths(con, list_inbox(later, settle_seconds=0), now=NOW)
    assert "other private words" in con.execute("select raw from raw.quarantine").fetchone()[0]
    run_apply(con, tmp_path / "control.sqlite", now=NOW, as_of=AS_OF, worker="t")
    raw = con.execute("select raw from raw.quarantine").fetchone()[0]
    assert orjson.loads(raw)["payload"]["text"] == "[redacted: r1]"


def test_an_expired_atom_with_no_text_anywhere_is_recorded_but_is_no_redaction(tmp_path):
    """A status atom (a creation) carries no free text: its expiry has nothing to erase, so it must not
    count as a redaction, which would make the publish rewrite the warehouse and every copy of the log."""
    con = _home(
        tmp_path,
        [
            _kept_two_days("status"),
            _ev("c1", "client.updated", "client", "k1", "2026-11-20T10:00:00+00:00", industry="energy"),
        ],
    )
    run_apply(con, tmp_path / "control.sqlite", now=NOW, as_of=AS_OF, worker="t")
    expired = con.execute(
        "select count(*) from core.memory_atoms where atom_type = 'status' and expires_at <= ?", [AS_OF]
    ).fetchone()[0]
    assert expired >= 1
    report = run_apply(con, tmp_path / "control.sqlite", now=NOW, as_of=AS_OF, worker="t", purge=True)
    assert report.scrubbed_redactions == 0
    assert report.purged_atoms == expired
    recorded = con.execute(
        "select events_scrubbed, quarantine_rows_scrubbed from core.scrubbed where audit_id like 'expired:%'"
    ).fetchall()
    assert recorded == [(0, 0)] * expired
    # Recorded once: the next purge finds nothing new.
    again = run_apply(con, tmp_path / "control.sqlite", now=NOW, as_of=AS_OF, worker="t", purge=True)
    assert again.purged_atoms == 0


def test_redacting_an_automatic_atom_keeps_the_hash_it_was_first_captured_with(tmp_path):
    """An automatic atom's text is a sentence built from its event, so its hash cannot be taken from a
    payload field: the scrub looks up the hash it was captured with before the event's text goes."""
    from tests.lifecycle.timeline import ev, happy_path

    def jsonable(events):
        return [{**e, "occurred_at": e["occurred_at"].isoformat()} for e in events]

    con = _home(tmp_path, jsonable(happy_path()))
    run_apply(con, tmp_path / "control.sqlite", now=NOW, as_of=AS_OF, worker="t")
    (first_hash,) = con.execute(
        "select content_hash from core.memory_atoms where atom_id = 'e09:won'"
    ).fetchone()
    inbox = tmp_path / "inbox"
    write_jsonl(
        inbox / "b.jsonl",
        jsonable([ev("r1", "memory.redacted", "p1", 100, {"atom_id": "e09:won", "reason": "x"})]),
    )
    report = ingest_paths(con, list_inbox(inbox, settle_seconds=0), now=NOW)
    for f in report.ingested:
        enqueue_file_events(con, tmp_path / "control.sqlite", f.file, NOW, NOW)
    assert (
        run_apply(con, tmp_path / "control.sqlite", now=NOW, as_of=AS_OF, worker="t").scrubbed_redactions == 1
    )
    payload = _payload(con, "e09")
    assert payload["reason"] == "[redacted: r1]"
    assert payload["erased_hashes"] == {"e09:won": first_hash}


def _many_expiring_notes(tmp_path: Path):
    """Six candidates (six clusters), each with four notes that expired (kept two days)."""
    events = [_kept_two_days("note")]
    for c in range(6):
        events.append(
            _ev(f"c{c}", "candidate.created", "candidate", f"c{c}", "2026-11-20T10:00:00+00:00", title="T")
        )
        events += [
            _ev(
                f"c{c}n{i}",
                "candidate.note_added",
                "candidate",
                f"c{c}",
                f"2026-11-20T11:{c * 4 + i:02d}:00+00:00",
                text=f"words {c} {i}",
            )
            for i in range(4)
        ]
    return _home(tmp_path, events)


def test_the_purge_re_folds_in_batches_of_whole_clusters_with_the_same_result(tmp_path, monkeypatch):
    """A first load's purge scrubs most of its history: re-folding it as one batch held every cluster in
    memory at once, so it goes in batches whose clusters hold about a claim's events."""
    from dagster_project.apply import runner
    from dagster_project.lifecycle.store import CORE

    real = runner.apply_batch

    def core_after(folder: Path, batch_size: int) -> tuple[dict, list[list[tuple[str, str]]]]:
        folder.mkdir()
        con = _many_expiring_notes(folder)
        refolds: list[list[tuple[str, str]]] = []

        def spy(con, keys, **kw):
            if "keys_between" not in kw:  # the scrub's re-fold (a claim's batch passes its time span)
                refolds.append(list(keys))
            return real(con, keys, **kw)

        monkeypatch.setattr(runner, "apply_batch", spy)
        report = run_apply(
            con,
            folder / "control.sqlite",
            now=NOW,
            as_of=AS_OF,
            worker="t",
            purge=True,
            batch_size=batch_size,
        )
        assert report.purged_atoms == 24
        # `cluster_changes` numbers the writes, which the batch size changes; every other table is the
        # result and must not.
        tables = {
            t.name: con.execute(f"select * from core.{t.name} order by all").fetchall()
            for t in CORE
            if t.name != "cluster_changes"
        }
        con.close()
        return tables, refolds

    whole, one = core_after(tmp_path / "whole", batch_size=1000)
    batched, several = core_after(tmp_path / "batched", batch_size=10)
    assert len(one) == 1 and len(one[0]) == 24
    assert whole == batched
    # Five events per cluster (its creation and four notes, the notes scrubbed): two clusters make a
    # batch of ten events, and no cluster is split.
    assert [len(keys) for keys in several] == [8, 8, 8]
    clusters = [{event_id.split("n")[0] for _, event_id in keys} for keys in several]
    assert all(not a & b for i, a in enumerate(clusters) for b in clusters[i + 1 :])


def test_a_purge_in_chunks_scrubs_the_log_and_quarantine_as_one_pass_does(tmp_path):
    """The purge scrubs its atoms a chunk per transaction, to bound its memory on a first load; the log,
    the quarantine and the records end as one pass over all the atoms leaves them."""
    from dagster_project.memory import governance

    def purged(folder: Path, chunk: int) -> tuple[list, list, list]:
        folder.mkdir()
        con = _many_expiring_notes(folder)
        # A quarantined line (no entity id) that holds one of the notes' texts.
        bad = {
            **_ev("q1", "candidate.note_added", "candidate", "c1", "2026-11-20T12:00:00+00:00"),
            "entity_id": None,
        }
        bad["payload"] = {"text": "words 2 3"}
        write_jsonl(folder / "inbox" / "b.jsonl", [bad])
        ingest_paths(con, list_inbox(folder / "inbox", settle_seconds=0), now=NOW)
        run_apply(con, folder / "control.sqlite", now=NOW, as_of=AS_OF, worker="t")
        report = governance.purge_expired(con, as_of=AS_OF, now=NOW, chunk=chunk)
        assert report.redactions == 24
        out = (
            con.execute("select event_id, payload from raw.events order by all").fetchall(),
            con.execute("select raw, detail from raw.quarantine order by all").fetchall(),
            con.execute("select * from core.scrubbed order by all").fetchall(),
        )
        con.close()
        return out

    one_pass = purged(tmp_path / "one", chunk=1000)
    chunked = purged(tmp_path / "chunked", chunk=5)
    assert chunked == one_pass
    assert any("words 2 3" not in raw and "[redacted: expired:c2n3]" in raw for raw, _ in one_pass[1])


def test_a_run_that_dies_between_the_purge_and_its_re_fold_leaves_the_re_fold_to_the_next(
    tmp_path, monkeypatch
):
    """The purge commits the scrubbed log before the apply re-folds what read it; the next run cannot find
    those events again (their text is gone), so the scrub leaves them in `core.refold_pending`."""
    from dagster_project.apply import runner

    con = _expiring_notes(tmp_path)
    store = tmp_path / "control.sqlite"
    run_apply(con, store, now=NOW, as_of=AS_OF, worker="t")
    stale = "select count(*) from core.memory_atoms where content like '%stale words%'"
    assert con.execute(stale).fetchone()[0] == 1

    class Died(Exception):
        pass

    def die(name: str) -> None:
        if name == "after_scrub":
            raise Died

    monkeypatch.setattr(runner, "checkpoint", die)
    with pytest.raises(Died):
        run_apply(con, store, now=NOW, as_of=AS_OF, worker="t", purge=True)
    assert _payload(con, "old")["text"] == "[redacted: expired:old]"  # the scrub committed
    assert con.execute(stale).fetchone()[0] == 1  # the re-fold did not
    monkeypatch.undo()
    report = run_apply(con, store, now=NOW, as_of=AS_OF, worker="t", purge=True)
    assert report.purged_atoms == 0 and report.refolded_after_scrub == 1
    assert con.execute(stale).fetchone()[0] == 0
    assert con.execute("select count(*) from core.refold_pending").fetchone()[0] == 0
