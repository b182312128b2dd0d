"""Redaction that really erases: scrub the text out of the event log and quarantine, then rewrite files.

A `memory.redacted` event is a tombstone the capture step honours at every as-of (the atom never comes
back, even for events that arrive later). That removes the atom from atoms, cards and the search index
on the next build. But the text also sits in the event log's payloads, maybe in quarantined bad lines,
in the snapshot's Parquet copy of the log, and in free blocks of DuckDB files that once held it. So:

1. `scrub_redacted` (in the apply step, before dbt): for each redaction not yet scrubbed, the source
   events of the atom (the event it was captured from, and every `memory.corrected` of it) get their
   free-text payload fields replaced by a marker; those exact strings are also replaced in quarantine
   rows. A row in `core.scrubbed` records the audit id, so each redaction is scrubbed once. The
   redaction itself (who, when, why, content hash) stays in `core.memory_audit`.
2. `rewrite_duckdb_file` (at publish, after dbt rebuilt the marts): copy the warehouse into a fresh file
   and replace it, so no free block keeps the old text; the publish step also drops every older Parquet
   copy of the log. The snapshot is always a new file anyway.

The stored `content_hash` of a scrubbed event is left as it was, so a re-sent copy of the original line
is still recognised as a duplicate and never brings the text back.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import orjson

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
# Free-text payload fields an atom's content can come from (notes, explicit atoms, reasons, snippets).
TEXT_FIELDS = ("text", "content", "snippet", "reason")
MIN_SECRET_CHARS = 4


def marker(audit_id: str) -> str:
    return f"[redacted: {audit_id}]"


@dataclass
class ScrubReport:
    redactions: int = 0
    events: int = 0
    quarantine_rows: int = 0
    audit_ids: list[str] = field(default_factory=list)
    event_keys: list[tuple[str, str]] = field(default_factory=list)  # to re-fold with the scrubbed text


def scrub_redacted(con: duckdb.DuckDBPyConnection, *, now) -> ScrubReport:
    """Scrub every redaction in `core.memory_audit` not scrubbed yet (one transaction)."""
    con.execute(SCRUBBED_DDL)
    pending = con.execute(
        """select a.org_id, a.audit_id, a.atom_id from core.memory_audit a
           where a.action = 'redact'
             and not exists (select 1 from core.scrubbed s where s.org_id = a.org_id and s.audit_id = a.audit_id)
           order by a.org_id, a.occurred_at, a.audit_id"""
    ).fetchall()
    report = ScrubReport()
    if not pending:
        return report
    con.execute("begin transaction")
    try:
        for org_id, audit_id, atom_id in pending:
            events, rows = _scrub_one(con, org_id, audit_id, atom_id)
            con.execute(
                "insert into core.scrubbed values (?, ?, ?, ?, ?, ?)",
                [org_id, audit_id, atom_id, len(events), rows, now],
            )
            report.redactions += 1
            report.events += len(events)
            report.event_keys += [(org_id, e) for e in events]
            report.quarantine_rows += rows
            report.audit_ids.append(audit_id)
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    return report


def purge_expired(con: duckdb.DuckDBPyConnection, *, as_of, now) -> ScrubReport:
    """The nightly purge: expired atoms' text is scrubbed the same way as a redaction's (record id
    `expired:<atom_id>` in `core.scrubbed`); the atoms already left every output when they expired."""
    con.execute(SCRUBBED_DDL)
    expired = con.execute(
        """select org_id, atom_id from core.memory_atoms m
           where expires_at <= $as_of
             and not exists (select 1 from core.scrubbed s where s.org_id = m.org_id and s.audit_id = 'expired:' || m.atom_id)
           order by org_id, atom_id""",
        {"as_of": as_of},
    ).fetchall()
    report = ScrubReport()
    if not expired:
        return report
    con.execute("begin transaction")
    try:
        for org_id, atom_id in expired:
            audit_id = f"expired:{atom_id}"
            events, rows = _scrub_one(con, org_id, audit_id, atom_id)
            con.execute(
                "insert into core.scrubbed values (?, ?, ?, ?, ?, ?)",
                [org_id, audit_id, atom_id, len(events), rows, now],
            )
            report.redactions += 1
            report.events += len(events)
            report.quarantine_rows += rows
            report.event_keys += [(org_id, e) for e in events]
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    return report


def _scrub_one(
    con: duckdb.DuckDBPyConnection, org_id: str, audit_id: str, atom_id: str
) -> tuple[list[str], int]:
    source_event = atom_id.split(":", 1)[0]
    sources = con.execute(
        """select event_id, payload from raw.events
           where org_id = $org
             and (event_id = $source
                  or (event_name in ('memory.corrected', 'memory.recorded')
                      and json_extract_string(payload, '$.atom_id') = $atom))""",
        {"org": org_id, "source": source_event, "atom": atom_id},
    ).fetchall()
    replacement = marker(audit_id)
    secrets: set[str] = set()
    for event_id, payload in sources:
        data = orjson.loads(payload) if payload else {}
        changed = False
        for name in TEXT_FIELDS:
            value = data.get(name)
            if isinstance(value, str) and value and value != replacement:
                if len(value) >= MIN_SECRET_CHARS:
                    secrets.add(value)
                data[name] = replacement
                changed = True
        if changed:
            con.execute(
                "update raw.events set payload = ? where org_id = ? and event_id = ?",
                [orjson.dumps(data).decode(), org_id, event_id],
            )
    quarantine_rows = 0
    for secret in sorted(secrets, key=len, reverse=True):
        # Quarantined lines hold raw text; JSON escaping may differ, so match both forms.
        for form in {secret, orjson.dumps(secret).decode()[1:-1]}:
            n = con.execute(
                """update raw.quarantine
                   set raw = replace(raw, $s, $r), detail = replace(detail, $s, $r)
                   where contains(raw, $s) or contains(coalesce(detail, ''), $s)
                   returning 1""",
                {"s": form, "r": replacement},
            ).fetchall()
            quarantine_rows += len(n)
    return [event_id for event_id, _ in sources], quarantine_rows


def rewrite_duckdb_file(path: Path) -> None:
    """Copy a DuckDB database into a fresh file and atomically replace it (free blocks keep old data)."""
    fresh = path.with_name(f".{path.name}.rewrite")
    fresh.unlink(missing_ok=True)
    con = duckdb.connect(str(path))
    try:
        con.execute("checkpoint")
        source = con.execute("select current_database()").fetchone()[0]
        con.execute(f"attach '{_sql_text(fresh)}' as fresh_copy")
        con.execute(f'copy from database "{source}" to fresh_copy')
        con.execute("detach fresh_copy")
    finally:
        con.close()
    os.replace(fresh, path)
    Path(f"{path}.wal").unlink(missing_ok=True)


def _sql_text(path: Path) -> str:
    return str(path).replace("'", "''")
