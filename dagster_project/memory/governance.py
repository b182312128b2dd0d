"""Erasure that really erases: scrub text out of the event log and quarantine, then rewrite files.

A `memory.redacted` event is a tombstone the capture step honours at every as-of (the atom never comes
back, even for events that arrive later), and a `memory.corrected` replaces an atom's content at every
as-of. That fixes atoms, cards and the search index on the next build. But the old text also sits in
the event log's payloads, maybe in quarantined bad lines, in the snapshot's Parquet copy of the log,
and in free blocks of DuckDB files that once held it. So (docs/erasure.md):

1. `scrub_corrected` and `scrub_redacted` (in the apply step, before dbt): the source events of the
   atom (the event it was captured from, a `memory.recorded` naming it, its `memory.corrected` events
   — for a correction only the older ones' content) and its duplicates on the entity get their
   free-text payload fields replaced by a marker; the texts are also replaced in quarantine rows,
   judged by their decoded content. Driven by the governance events in the log and by what each field
   still holds, so nothing is done twice and a target arriving later is scrubbed on arrival. A row in
   `core.scrubbed` records each scrub; the audit trail (who, when, why, content hashes) stays in
   `core.memory_audit`, its hashes kept in the scrubbed payloads (`erased_hashes`).
   The texts themselves are matched and replaced by memory/text_scrub.py.
2. `rewrite_duckdb_file` (at publish, after dbt rebuilt the marts): copy the warehouse into a fresh file
   and replace it, so no free block keeps the old text; the publish step also drops every older Parquet
   copy of the log. The snapshot is always a new file anyway.

The stored `content_hash` of a scrubbed event is left as it was, so a re-sent copy of the original line
is still recognised as a duplicate and never brings the text back.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import duckdb
import orjson
import pyarrow as pa

from dagster_project.config.registry import DEFAULTS
from dagster_project.memory.atoms import (
    CORRECTED,
    ERASED_HASHES,
    NOTE_EVENTS,
    RECORDED,
    content_hash,
)
from dagster_project.memory.classify import classify
from dagster_project.memory.quarantine_scrub import scrub_quarantine
from dagster_project.memory.text_scrub import correction_marker, is_marker, marker
from dagster_project.warehouse.store import memory_limit
from dagster_project.warehouse.store import quote_ident as _ident

SCRUBBED_DDL = """
create table if not exists core.scrubbed (
    org_id varchar not null,
    audit_id varchar not null,
    atom_id varchar not null,
    events_scrubbed integer not null,
    quarantine_rows_scrubbed integer not null,
    scrubbed_at timestamptz not null
);
"""
# The scrubbed events the apply has still to re-fold. A scrub writes its rows in its own transaction and
# the apply's re-fold deletes them once it has written every batch: a run that dies in between leaves
# them for the next one, which would not find those events again (their text is already gone).
REFOLD_DDL = """
create schema if not exists core;
create table if not exists core.refold_pending (org_id varchar not null, event_id varchar not null);
"""
# Free-text payload fields an atom's content can come from (notes, explicit atoms, reasons, snippets).
TEXT_FIELDS = ("text", "content", "snippet", "reason")
MIN_SECRET_CHARS = 4
PURGE_CHUNK = 200_000  # expired atoms scrubbed per transaction (benchmarks/README.md: memory against the quarantine re-read per chunk)


@dataclass
class ScrubReport:
    redactions: int = 0
    corrections: int = 0
    # Recorded as done although they changed nothing (an expired atom without text anywhere): not
    # redactions, so they never make the publish rewrite the warehouse and drop the log's copies.
    unchanged: int = 0
    events: int = 0
    quarantine_rows: int = 0
    audit_ids: list[str] = field(default_factory=list)
    event_keys: list[tuple[str, str]] = field(default_factory=list)  # to re-fold with the scrubbed text

    def add(self, other: ScrubReport) -> None:
        self.redactions += other.redactions
        self.corrections += other.corrections
        self.unchanged += other.unchanged
        self.events += other.events
        self.quarantine_rows += other.quarantine_rows
        self.audit_ids += other.audit_ids
        self.event_keys += other.event_keys

    @property
    def scrubbed(self) -> int:
        return self.redactions + self.corrections


@dataclass(frozen=True)
class _Target:
    """One erasure: `kind` redact (every text of the atom) or correct (the texts before this correction)."""

    org_id: str
    audit_id: str
    atom_id: str
    kind: str = "redact"
    occurred_at: datetime | None = None  # a correction's time: older corrections of the atom are scrubbed

    @property
    def replacement(self) -> str:
        return marker(self.audit_id) if self.kind == "redact" else correction_marker(self.audit_id)


def scrub_redacted(con: duckdb.DuckDBPyConnection, *, now) -> ScrubReport:
    """Scrub the text of every redacted atom that is still in the log or quarantine (one transaction).

    Driven by the log's `memory.redacted` events, not by what was scrubbed before: a redaction is a
    tombstone that waits for its target, so a note arriving in a later run than its redaction is
    scrubbed on arrival. A redaction with nothing left to scrub costs one join and writes nothing.
    """
    con.execute(SCRUBBED_DDL)
    rows = con.execute(
        """select org_id, event_id, json_extract_string(payload, '$.atom_id') as atom_id
           from raw.events
           where event_name = 'memory.redacted' and atom_id is not null and atom_id <> ''
           order by org_id, occurred_at, event_id"""
    ).fetchall()
    return _scrub_and_record(con, [_Target(org, audit, atom) for org, audit, atom in rows], now)


def scrub_corrected(con: duckdb.DuckDBPyConnection, *, as_of, now) -> ScrubReport:
    """Scrub an atom's old content after each `memory.corrected` of it (contract: the new content
        replaces the old everywhere), like a redaction but with `[corrected: <audit_id>]`.

        The source event's free-text fields and the `content` of older corrections of the atom are replaced;
        the correction's own `reason` (the why of the audit trail) and newer contents stay. A scrubbed note
        keeps the type it was classified as (`atom_type`, `classified_by` in its payload), since its text can
        no longer be classified. Only corrections the capture applied count (their audit row), so one of
    an atom not yet arrived waits for it, and a rejected one erases nothing.
    """
    con.execute(SCRUBBED_DDL)
    rows = con.execute(
        """select org_id, event_id, json_extract_string(payload, '$.atom_id') as atom_id, occurred_at
           from raw.events
           where event_name = 'memory.corrected' and atom_id is not null and atom_id <> ''
             and trim(coalesce(json_extract_string(payload, '$.content'), '')) <> ''
             -- Only a correction capture applied (its audit row): a rejected one erases nothing.
             and exists (select 1 from core.memory_audit a
                         where a.org_id = raw.events.org_id and a.audit_id = raw.events.event_id
                           and a.action = 'correct')
           order by org_id, occurred_at, event_id"""
    ).fetchall()
    targets = [_Target(org, audit, atom, "correct", at) for org, audit, atom, at in rows]
    return _scrub_and_record(con, targets, now, note_type=_note_typer(con, as_of))


WATERMARK_DDL = """
create table if not exists core.scrub_watermark (
    events bigint not null,
    quarantine bigint not null,
    corrections varchar not null
);
"""


def scrub_governed(con: duckdb.DuckDBPyConnection, *, as_of, now) -> ScrubReport:
    """`scrub_corrected` then `scrub_redacted`, skipped when nothing they read has changed since.

    Both scrubs are idempotent and read only the log, quarantine and the applied corrections' audit
    rows; the log and quarantine only grow (a scrub rewrites rows in place), so equal counts of those
    and the same set of corrections mean there is nothing new to erase, and a run with no new input
    does not re-read the log.
    """
    con.execute(WATERMARK_DDL)
    marks = con.execute(
        """select (select count(*) from raw.events), (select count(*) from raw.quarantine),
                  (select coalesce(md5(string_agg(org_id || '/' || audit_id, ',' order by org_id, audit_id)), '')
                   from core.memory_audit where action = 'correct')"""
    ).fetchone()
    if con.execute("select events, quarantine, corrections from core.scrub_watermark").fetchone() == marks:
        return ScrubReport()
    report = scrub_corrected(con, as_of=as_of, now=now)
    report.add(scrub_redacted(con, now=now))
    con.execute("begin transaction")
    con.execute("delete from core.scrub_watermark")
    con.execute("insert into core.scrub_watermark values (?, ?, ?)", list(marks))
    con.execute("commit")
    return report


def purge_expired(con: duckdb.DuckDBPyConnection, *, as_of, now, chunk: int = PURGE_CHUNK) -> ScrubReport:
    """The nightly purge: expired atoms' text is scrubbed the same way as a redaction's (record id
    `expired:<atom_id>` in `core.scrubbed`); the atoms already left every output when they expired."""
    con.execute(SCRUBBED_DDL)
    # A first load expires a large share of its history at once (millions of atoms at 5M events): the
    # expired atoms wait in a DuckDB table, not a Python list, and are scrubbed in chunks, each its own
    # transaction, so the events and payloads a scrub holds stay bounded. One chunk ends as it would in
    # one pass: the next reads the log and quarantine as the last left them, and each records what it
    # did. The events to re-fold wait in `core.refold_pending`, not in the report.
    con.execute(
        """create or replace temp table purge_todo as
           select row_number() over (order by org_id, atom_id) as n, org_id, atom_id
           from core.memory_atoms m
           where expires_at <= $as_of
             and not exists (select 1 from core.scrubbed s where s.org_id = m.org_id and s.audit_id = 'expired:' || m.atom_id)""",
        {"as_of": as_of},
    )
    report = ScrubReport()
    try:
        total = con.execute("select count(*) from purge_todo").fetchone()[0]
        for start in range(0, total, chunk):
            rows = con.execute(
                "select org_id, atom_id from purge_todo where n > ? and n <= ? order by n",
                [start, start + chunk],
            ).fetchall()
            done = _scrub_and_record(
                con, [_Target(o, f"expired:{a}", a) for o, a in rows], now, record_empty=True
            )
            done.event_keys, done.audit_ids = [], []
            report.add(done)
    finally:
        con.execute("drop table if exists purge_todo")
    return report


NoteTyper = Callable[[str, str, str], tuple[str, str | None]]


def _note_typer(con: duckdb.DuckDBPyConnection, as_of) -> NoteTyper:
    """(atom_type, classified_by) of a note about to lose its text: as captured, else classified now."""
    rules_by_org: dict[str, object] = {}

    def typed(org_id: str, atom_id: str, text: str) -> tuple[str, str | None]:
        row = con.execute(
            "select atom_type, classified_by from core.memory_atoms where org_id = ? and atom_id = ?",
            [org_id, atom_id],
        ).fetchone()
        if row is not None:
            return row[0], row[1]
        if org_id not in rules_by_org:
            found = con.execute(
                """select value from core.config_registry
                   where org_id = $org and key = 'memory.note_rules'
                     and (effective_from is null or effective_from <= $t)
                     and (effective_to is null or effective_to > $t)
                   order by effective_from desc nulls last limit 1""",
                {"org": org_id, "t": as_of},
            ).fetchone()
            rules_by_org[org_id] = orjson.loads(found[0]) if found else DEFAULTS["memory.note_rules"]
        return classify(text, rules_by_org[org_id])

    return typed


def _scrub_and_record(
    con: duckdb.DuckDBPyConnection,
    items: list[_Target],
    now,
    *,
    note_type: NoteTyper | None = None,
    record_empty: bool = False,
) -> ScrubReport:
    """Scrub the items and record each that changed something in `core.scrubbed`, in one transaction."""
    report = ScrubReport()
    if not items:
        return report
    con.execute("begin transaction")
    try:
        scrubbed = _scrub(con, items, note_type)
        recorded: list[tuple[str, str, str, int, int]] = []
        for item, (events, rows) in zip(items, scrubbed, strict=True):
            if not events and not rows:
                if record_empty:
                    recorded.append((item.org_id, item.audit_id, item.atom_id, 0, 0))
                    report.unchanged += 1
                continue
            recorded.append((item.org_id, item.audit_id, item.atom_id, len(events), rows))
            if item.kind == "redact":
                report.redactions += 1
            else:
                report.corrections += 1
            report.events += len(events)
            report.event_keys += [(item.org_id, e) for e in events]
            report.quarantine_rows += rows
            report.audit_ids.append(item.audit_id)
        _record_scrubbed(con, recorded, now)
        await_refold(con, report.event_keys)
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    return report


def await_refold(con: duckdb.DuckDBPyConnection, keys: list[tuple[str, str]]) -> None:
    """Within a scrub's transaction: these scrubbed events wait for the apply's re-fold."""
    con.execute(REFOLD_DDL)
    if keys:
        con.register(
            "refold_keys_new", pa.table({"org_id": [k[0] for k in keys], "event_id": [k[1] for k in keys]})
        )
        try:
            con.execute("insert into core.refold_pending select org_id, event_id from refold_keys_new")
        finally:
            con.unregister("refold_keys_new")


def _record_scrubbed(con: duckdb.DuckDBPyConnection, rows: list[tuple[str, str, str, int, int]], now) -> None:
    """`core.scrubbed` rows in one columnar insert: a first load's purge records every expired atom
    (hundreds of thousands), and DuckDB inserts parameter rows one statement at a time."""
    if not rows:
        return
    con.register(
        "scrubbed_rows",
        pa.table(
            {
                name: [row[k] for row in rows]
                for k, name in enumerate(("org_id", "audit_id", "atom_id", "events", "rows"))
            },
            schema=pa.schema(
                [
                    ("org_id", pa.string()),
                    ("audit_id", pa.string()),
                    ("atom_id", pa.string()),
                    ("events", pa.int32()),
                    ("rows", pa.int32()),
                ]
            ),
        ),
    )
    try:
        con.execute(
            "insert into core.scrubbed select org_id, audit_id, atom_id, events, rows, $now from scrubbed_rows",
            {"now": now},
        )
    finally:
        con.unregister("scrubbed_rows")


def _keep_hash(
    data: dict, event_name: str, atom_id: str, name: str, value: str, first: dict[str, str]
) -> None:
    """Record in the payload (`erased_hashes`: atom id → hash) the hash of the content this event gave
    the atom, before its text goes: a re-fold then still writes the audit trail's old and new hashes
    and blocks the redacted content, though the text itself is gone."""
    kept = data.setdefault(ERASED_HASHES, {})
    if not isinstance(kept, dict) or atom_id in kept:
        return
    if (
        event_name == CORRECTED
        or (event_name == RECORDED and name == "content")
        or (event_name in NOTE_EVENTS and name == "text")
    ):
        kept[atom_id] = content_hash(value)  # the atom's content is this field's text
        return
    if first.get(atom_id):  # an automatic atom's content is a sentence built from the event
        kept[atom_id] = first[atom_id]


def _first_hashes(con: duckdb.DuckDBPyConnection, org_id: str, atom_ids: set[str]) -> dict[str, str]:
    """Each atom's content hash as first captured: the oldest correction's old hash, else the oldest
    redaction's, else the atom's. One query for all of an org's atoms, not one per atom: a purge can
    erase every expired atom of a first load at once."""
    con.register(
        "keep_atoms", pa.table({"atom_id": sorted(atom_ids)}, schema=pa.schema([("atom_id", pa.string())]))
    )
    try:
        rows = con.execute(
            """with audit as (
                   select atom_id, action, case action when 'correct' then old_content_hash
                          else content_hash end as h
                   from core.memory_audit join keep_atoms using (atom_id)
                   where org_id = $org and action in ('correct', 'redact')
                   qualify row_number() over (partition by atom_id, action order by occurred_at, audit_id) = 1)
               select k.atom_id, coalesce(c.h, r.h, (select any_value(m.content_hash) from core.memory_atoms m
                                                     where m.org_id = $org and m.atom_id = k.atom_id))
               from keep_atoms k
               left join audit c on c.atom_id = k.atom_id and c.action = 'correct'
               left join audit r on r.atom_id = k.atom_id and r.action = 'redact'""",
            {"org": org_id},
        ).fetchall()
    finally:
        con.unregister("keep_atoms")
    return {atom_id: h for atom_id, h in rows if h}


def _erased_of(
    item: _Target, sources: list[tuple[str, str, str, datetime]], payloads: dict[tuple[str, str], dict]
) -> set[str]:
    """The hashes of the contents this item erases from its atom (kept in the scrubbed payloads)."""
    hashes: set[str] = set()
    for org_id, event_id, event_name, occurred_at in sources:
        if not _fields_to_scrub(item, event_name, occurred_at, event_id):
            continue
        kept = (
            payloads[(org_id, event_id)].get(ERASED_HASHES)
            if isinstance(payloads[(org_id, event_id)], dict)
            else None
        )
        digest = kept.get(item.atom_id) if isinstance(kept, dict) else None
        if isinstance(digest, str):
            hashes.add(digest)
    return hashes


def _settled(item: _Target, value: str) -> bool:
    """Nothing for this item to do on a field: a redaction's marker stays; a correction's marker gives
    way to a redaction's (erased is erased, and says so), never to another correction's."""
    if item.kind == "redact":
        return value.startswith("[redacted: ") and is_marker(value)
    return is_marker(value)


def _fields_to_scrub(item: _Target, event_name: str, occurred_at: datetime, event_id: str) -> tuple[str, ...]:
    """Which payload fields of a source event hold text this item erases."""
    if item.kind == "redact":
        return TEXT_FIELDS
    if event_name == "memory.corrected":
        # Only corrections before this one hold older content; their reason is the audit trail's why.
        older = (occurred_at, event_id) < (item.occurred_at, item.audit_id)
        return ("content",) if older and event_id != item.audit_id else ()
    return TEXT_FIELDS


def _scrub(
    con: duckdb.DuckDBPyConnection, items: list[_Target], note_type: NoteTyper | None
) -> list[tuple[list[str], int]]:
    """Scrub each item in turn; per item, the source events it changed and its quarantine rows.

    The source events of every item are found in one pass over the log (two equi-joins, not a scan per
    item) and their payloads rewritten in one update. Items are still applied in order on the payloads
    as the earlier items left them, so two erasures of one event end as they would one after the other.
    """
    targets = [(i, t.org_id, t.atom_id.split(":", 1)[0], t.atom_id) for i, t in enumerate(items)]
    con.register(
        "scrub_targets",
        pa.table(
            {name: [t[k] for t in targets] for k, name in enumerate(("i", "org_id", "source", "atom_id"))},
            schema=pa.schema(
                [
                    ("i", pa.int64()),
                    ("org_id", pa.string()),
                    ("source", pa.string()),
                    ("atom_id", pa.string()),
                ]
            ),
        ),
    )
    found = con.execute(
        """select t.i, e.org_id, e.event_id, e.event_name, e.occurred_at, e.payload, false as twin
           from raw.events e join scrub_targets t on e.org_id = t.org_id and e.event_id = t.source
           union
           select t.i, e.org_id, e.event_id, e.event_name, e.occurred_at, e.payload, false as twin
           from raw.events e join scrub_targets t
             on e.org_id = t.org_id and json_extract_string(e.payload, '$.atom_id') = t.atom_id
           where e.event_name in ('memory.corrected', 'memory.recorded')
           union
           -- Notes and explicit atoms on the source's entity: those with the erased content are the
           -- atom's duplicates (capture keeps one atom per content and entity), judged by hash below.
           select t.i, d.org_id, d.event_id, d.event_name, d.occurred_at, d.payload, true as twin
           from scrub_targets t
           join raw.events s on s.org_id = t.org_id and s.event_id = t.source
           join raw.events d
             on d.org_id = s.org_id and d.entity_type = s.entity_type and d.entity_id = s.entity_id
           where d.event_id <> s.event_id and d.event_name in ($n1, $n2, $n3, $n4, 'memory.recorded')
           order by 1, 2, 3""",
        dict(zip(("n1", "n2", "n3", "n4"), NOTE_EVENTS, strict=True)),
    ).fetchall()
    con.unregister("scrub_targets")
    sources: dict[int, list[tuple[str, str, str, datetime]]] = {}
    twins: dict[int, list[tuple[str, str, str]]] = {}
    payloads: dict[tuple[str, str], dict] = {}
    for i, org_id, event_id, event_name, occurred_at, payload, twin in found:
        if twin:
            twins.setdefault(i, []).append((org_id, event_id, event_name))
        else:
            sources.setdefault(i, []).append((org_id, event_id, event_name, occurred_at))
        if (org_id, event_id) not in payloads:
            payloads[(org_id, event_id)] = orjson.loads(payload) if payload else {}
    by_org: dict[str, set[str]] = defaultdict(set)
    for item in items:
        by_org[item.org_id].add(item.atom_id)
    first = {org_id: _first_hashes(con, org_id, ids) for org_id, ids in by_org.items()}
    changed: set[tuple[str, str]] = set()
    jobs: list[tuple[set[str], dict[tuple[str, str], tuple[str, ...]], str]] = []
    touched: list[list[str]] = []
    for i, item in enumerate(items):
        replacement = item.replacement
        secrets: set[str] = set()
        events: list[str] = []
        for org_id, event_id, event_name, occurred_at in sources.get(i, []):
            data = payloads[(org_id, event_id)]
            if not isinstance(data, dict):
                continue
            hit = False
            for name in _fields_to_scrub(item, event_name, occurred_at, event_id):
                value = data.get(name)
                if not isinstance(value, str) or not value.strip() or _settled(item, value):
                    continue
                if len(value) >= MIN_SECRET_CHARS and not is_marker(value):
                    secrets.add(value)
                if item.kind == "correct" and name == "text" and event_name in NOTE_EVENTS and note_type:
                    data["atom_type"], data["classified_by"] = note_type(org_id, item.atom_id, value)
                _keep_hash(data, event_name, item.atom_id, name, value, first[org_id])
                data[name] = replacement
                hit = True
            if hit:
                changed.add((org_id, event_id))
                events.append(event_id)
        erased = _erased_of(item, sources.get(i, []), payloads)
        for org_id, event_id, event_name in twins.get(i, []) if erased else ():
            if event_id in events:
                continue
            data = payloads[(org_id, event_id)]
            name = "content" if event_name == RECORDED else "text"
            value = data.get(name) if isinstance(data, dict) else None
            if not isinstance(value, str) or is_marker(value) or content_hash(value) not in erased:
                continue
            if len(value) >= MIN_SECRET_CHARS:
                secrets.add(value)
            own_id = data.get("atom_id") if event_name == RECORDED else None
            own_id = own_id if isinstance(own_id, str) and own_id.strip() else event_id
            _keep_hash(data, event_name, own_id, name, value, first.get(org_id, {}))
            data[name] = replacement
            changed.add((org_id, event_id))
            events.append(event_id)
        touched.append(events)
        # Quarantined copies of the erased events, also those quarantined after an earlier scrub.
        copies = {
            (org_id, event_id): fields
            for org_id, event_id, event_name, occurred_at in sources.get(i, [])
            if (fields := _fields_to_scrub(item, event_name, occurred_at, event_id))
        }
        copies.update({(item.org_id, e): TEXT_FIELDS for e in events if (item.org_id, e) not in copies})
        jobs.append((secrets, copies, replacement))
    rows = scrub_quarantine(con, jobs)
    if changed:
        keys = sorted(changed)
        con.register(
            "scrub_payloads",
            pa.table(
                {
                    "org_id": [k[0] for k in keys],
                    "event_id": [k[1] for k in keys],
                    "payload": [orjson.dumps(payloads[k]).decode() for k in keys],
                }
            ),
        )
        con.execute(
            """update raw.events e set payload = s.payload from scrub_payloads s
               where e.org_id = s.org_id and e.event_id = s.event_id"""
        )
        con.unregister("scrub_payloads")
    return list(zip(touched, rows, strict=True))


def rewrite_duckdb_file(path: Path) -> None:
    """Copy a DuckDB database into a fresh file and atomically replace it (free blocks keep old data)."""
    fresh = path.with_name(f".{path.name}.rewrite")
    fresh.unlink(missing_ok=True)
    con = duckdb.connect(str(path))
    try:
        # The pipeline writers' cap: uncapped, DuckDB's copy of a 5M-event warehouse held gigabytes
        # (benchmarks/README.md); capped, it spills and takes longer.
        con.execute(f"SET memory_limit = '{memory_limit()}'")
        con.execute("checkpoint")
        source = con.execute("select current_database()").fetchone()[0]
        con.execute(f"attach '{_sql_text(fresh)}' as fresh_copy")
        # The schema (tables, views, constraints, macros) in one statement, then each table's rows in one
        # statement of its own, in its stored order: the whole copy as one statement took half as long
        # again under the cap (benchmarks/README.md).
        con.execute(f"copy from database {_ident(source)} to fresh_copy (schema)")
        tables = con.execute(
            "select schema_name, table_name from duckdb_tables() where database_name = ? order by 1, 2",
            [source],
        ).fetchall()
        for schema, table in tables:
            name = f"{_ident(schema)}.{_ident(table)}"
            con.execute(f"insert into fresh_copy.{name} select * from {_ident(source)}.{name}")
        con.execute("detach fresh_copy")
    finally:
        con.close()
    os.replace(fresh, path)
    Path(f"{path}.wal").unlink(missing_ok=True)


def _sql_text(path: Path) -> str:
    return str(path).replace("'", "''")
