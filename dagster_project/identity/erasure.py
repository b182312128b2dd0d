"""Forgetting a person (`contact.erased`): their personal fields and free text about them leave the event
log and the quarantine, like a memory redaction; the re-fold then rebuilds every table from the scrubbed
log, and the publish rewrites the warehouse file and drops older copies of the log (docs/identity.md).

Who "the person" is: the erased contact, every record identity resolution last put with it, and every
record in the org whose email or phone has the same canonical key, among events up to the erasure's time
(a later event is new data). Their personal fields (`name`, `email`, `phone`, `title`, a signal's
`contact_*`) are removed from those payloads (`erased_by` names the erasure); the plain values found are
also replaced, as text, in every free-text field of the org's events and in its quarantined lines.

The audit row (`identity.erasures`) keeps hashes only: of each erased value and of each canonical key, so
a record of the person that arrives later (dated before the erasure) is still recognised and scrubbed,
though the values themselves are gone. Idempotent, and skipped when the log, quarantine and erasures
are as they were at the last scrub. When they are not, an erasure is done again only if what it reads
changed since its last pass (`identity.erasure_inputs`): the org's person events up to its time (count
and a hash of each event, as its last pass left them) and the records identity resolution puts with the
person. A drop of newer events changes neither, and the pass is idempotent on the same input, so it is
skipped instead of re-reading the org's person events every run; a late event dated before the erasure
or a new link changes them, and the person's records are scrubbed again.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

import duckdb
import orjson
import pyarrow as pa

from dagster_project.identity.keys import canonical_email, canonical_phone
from dagster_project.memory.governance import ScrubReport, await_refold
from dagster_project.memory.text_scrub import marker, scrub_text

ERASURES_DDL = """
create schema if not exists identity;
create table if not exists identity.erasures (
    org_id varchar not null,
    audit_id varchar not null,
    contact_id varchar not null,
    actor varchar,
    occurred_at timestamptz not null,
    reason_hash varchar,
    key_hashes varchar[] not null,
    value_hashes varchar[] not null,
    events_scrubbed integer not null,
    quarantine_rows_scrubbed integer not null,
    scrubbed_at timestamptz not null
);
create table if not exists identity.erasure_watermark (events bigint, quarantine bigint, erasures bigint);
create table if not exists identity.erasure_inputs (
    org_id varchar not null,
    audit_id varchar not null,
    people bigint not null,
    people_hash ubigint not null,
    linked_hash varchar not null
);
"""
# Payload fields that hold a person's own data, per event.
PERSON_FIELDS = {
    "contact.updated": ("name", "email", "phone", "title"),
    "signal.created": ("contact_name", "contact_email", "contact_phone"),
}
_EMAIL_FIELDS = ("email", "contact_email")
_PHONE_FIELDS = ("phone", "contact_phone")
TEXT_FIELDS = ("text", "content", "snippet", "reason", "title")
_MIN_SECRET = 4
# The canonical id of a person identity resolution knows only from signals (`signal:<signal_id>`): a
# `contact.erased` naming it forgets that signal's sender and everyone resolution put with them.
SIGNAL_ONLY_PREFIX = "signal:"


def sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


@dataclass(frozen=True)
class _Erasure:
    org_id: str
    audit_id: str
    contact_id: str
    actor: str | None
    occurred_at: datetime
    reason: str | None


def _keys(payload: dict) -> set[str]:
    """Hashes of the canonical email and phone keys a payload names (any region: E.164 is global)."""
    found = set()
    for name in _EMAIL_FIELDS:
        if key := canonical_email(payload.get(name)):
            found.add(sha("email:" + key))
    for name in _PHONE_FIELDS:
        if key := canonical_phone(payload.get(name)):
            found.add(sha("phone:" + key))
    return found


def scrub_erased_contacts(con: duckdb.DuckDBPyConnection, *, now: datetime) -> ScrubReport:
    """Scrub every erased person out of the log and quarantine; one transaction; report what changed."""
    con.execute(ERASURES_DDL)
    marks = con.execute(
        """select (select count(*) from raw.events), (select count(*) from raw.quarantine),
                  (select count(*) from raw.events where event_name = 'contact.erased')"""
    ).fetchone()
    if con.execute("select events, quarantine, erasures from identity.erasure_watermark").fetchone() == marks:
        return ScrubReport()
    erasures = [
        _Erasure(*row)
        for row in con.execute(
            """select org_id, event_id, entity_id, actor, occurred_at, json_extract_string(payload, '$.reason')
               from raw.events where event_name = 'contact.erased' order by org_id, occurred_at, event_id"""
        ).fetchall()
    ]
    report = ScrubReport()
    stored = {
        (org, audit): (people, people_hash, linked)
        for org, audit, people, people_hash, linked in con.execute(
            "select org_id, audit_id, people, people_hash, linked_hash from identity.erasure_inputs"
        ).fetchall()
    }
    people = _people_fingerprints(con)
    con.execute("begin transaction")
    try:
        done: dict[tuple[str, str], str] = {}
        for erasure in erasures:
            key = (erasure.org_id, erasure.audit_id)
            linked = _linked_records(con, erasure)
            digest = _linked_digest(linked)
            if stored.get(key) == (*people.get(key, (0, 0)), digest):
                continue
            _erase(con, erasure, linked, now, report)
            done[key] = digest
        _store_inputs(con, done)
        await_refold(con, report.event_keys)
        con.execute("delete from identity.erasure_watermark")
        con.execute("insert into identity.erasure_watermark values (?, ?, ?)", list(marks))
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    return report


def _people_fingerprints(con: duckdb.DuckDBPyConnection) -> dict[tuple[str, str], tuple[int, int]]:
    """Per erasure (org, audit id): how many of the org's person events up to its time the log holds, and
    the XOR of their hashes (id, name, entity and payload): what `_erase` reads of the log."""
    rows = con.execute(
        """select x.org_id, x.event_id, count(p.event_id)::bigint,
                   coalesce(bit_xor(hash(p.event_id, p.event_name, p.entity_type, p.entity_id, p.payload)), 0)::ubigint
            from raw.events x
            left join raw.events p on p.org_id = x.org_id and p.occurred_at <= x.occurred_at
                                 and p.event_name = any(?)
            where x.event_name = 'contact.erased'
            group by x.org_id, x.event_id""",
        [list(PERSON_FIELDS)],
    ).fetchall()
    return {(org, audit): (count, digest) for org, audit, count, digest in rows}


def _linked_digest(records: set[tuple[str, str]]) -> str:
    return sha("\n".join(f"{kind}\t{record}" for kind, record in sorted(records)))


def _store_inputs(con: duckdb.DuckDBPyConnection, done: dict[tuple[str, str], str]) -> None:
    """Keep what the erasures done in this pass read, as their edits (and the later erasures') left it."""
    if not done:
        return
    people = _people_fingerprints(con)
    rows = [(org, audit, *people.get((org, audit), (0, 0)), linked) for (org, audit), linked in done.items()]
    con.executemany("delete from identity.erasure_inputs where org_id = ? and audit_id = ?", list(done))
    con.executemany("insert into identity.erasure_inputs values (?, ?, ?, ?, ?)", rows)


def _named_records(e: _Erasure) -> set[tuple[str, str]]:
    """The records the erasure names itself: the contact, and for a person known only from signals
    (`signal:<signal_id>`, the id the `contacts` mart shows) that signal's sender, so the request works
    even before identity resolution has run."""
    named = {("contact", e.contact_id)}
    if e.contact_id.startswith(SIGNAL_ONLY_PREFIX):
        named.add(("signal", e.contact_id.removeprefix(SIGNAL_ONLY_PREFIX)))
    return named


def _linked_records(con: duckdb.DuckDBPyConnection, e: _Erasure) -> set[tuple[str, str]]:
    """The records identity resolution last put with the erased person (none before its first run): the
    group of the contact record, or the group whose canonical id the erasure names (a person known only
    from signals has no contact record)."""
    exists = con.execute(
        "select count(*) from information_schema.tables where table_schema = 'identity' and table_name = 'links'"
    ).fetchone()[0]
    if not exists:
        return set()
    rows = con.execute(
        """select l.record_type, l.record_id from identity.links l
           join identity.links x on x.org_id = l.org_id and x.entity_type = l.entity_type
                                 and x.canonical_id = l.canonical_id
           where x.org_id = ? and x.entity_type = 'contact'
             and (x.canonical_id = ? or (x.record_type = 'contact' and x.record_id = ?))""",
        [e.org_id, e.contact_id, e.contact_id],
    ).fetchall()
    return {(t, i) for t, i in rows}


def _erase(
    con: duckdb.DuckDBPyConnection,
    e: _Erasure,
    linked_now: set[tuple[str, str]],
    now: datetime,
    report: ScrubReport,
) -> None:
    """One erasure's pass; `linked_now` is `_linked_records` of it, read once by the caller."""
    kept = con.execute(
        "select key_hashes, value_hashes from identity.erasures where org_id = ? and audit_id = ?",
        [e.org_id, e.audit_id],
    ).fetchone()
    key_hashes: set[str] = set(kept[0]) if kept else set()
    value_hashes: set[str] = set(kept[1]) if kept else set()
    people = con.execute(
        """select event_id, event_name, entity_type, entity_id, payload from raw.events
           where org_id = ? and occurred_at <= ? and event_name = any(?)
           order by occurred_at, event_id""",
        [e.org_id, e.occurred_at, list(PERSON_FIELDS)],
    ).fetchall()
    payloads = {row[0]: orjson.loads(row[4]) if row[4] else {} for row in people}
    linked = linked_now | _named_records(e)
    # The person's records: linked ones, then (to a fixed point) any sharing a canonical key with them.
    mine: set[str] = set()
    changed = True
    while changed:
        changed = False
        for event_id, _name, entity_type, entity_id, _ in people:
            if event_id in mine:
                continue
            data = payloads[event_id]
            keys = _keys(data) if isinstance(data, dict) else set()
            if (entity_type, entity_id) in linked or keys & key_hashes:
                mine.add(event_id)
                linked.add((entity_type, entity_id))
                key_hashes |= keys
                changed = True
    secrets: set[str] = set()
    edited: dict[str, dict] = {}
    for event_id, name, *_ in people:
        data = payloads[event_id]
        if event_id not in mine or not isinstance(data, dict):
            continue
        fields = [f for f in PERSON_FIELDS[name] if isinstance(data.get(f), str) and data[f].strip()]
        if not fields:
            continue
        for f in fields:
            value = data.pop(f).strip()
            value_hashes.add(sha(value))
            if len(value) >= _MIN_SECRET:
                secrets.add(value)
        data["erased_by"] = e.audit_id
        edited[event_id] = data
    replacement = marker(e.audit_id)
    if secrets:
        for event_id, payload in con.execute(
            "select event_id, payload from raw.events where org_id = ? and event_id <> ?",
            [e.org_id, e.audit_id],
        ).fetchall():
            data = edited.get(event_id) or (orjson.loads(payload) if payload else {})
            if not isinstance(data, dict):
                continue
            hit = False
            for f in TEXT_FIELDS:
                value = data.get(f)
                if isinstance(value, str) and any(s in value for s in secrets):
                    data[f] = scrub_text(value, secrets, replacement)
                    hit = True
            if hit:
                edited[event_id] = data
    if edited:
        keys = sorted(edited)
        con.register(
            "erased_payloads",
            pa.table({"event_id": keys, "payload": [orjson.dumps(edited[k]).decode() for k in keys]}),
        )
        con.execute(
            """update raw.events e set payload = s.payload from erased_payloads s
               where e.org_id = ? and e.event_id = s.event_id""",
            [e.org_id],
        )
        con.unregister("erased_payloads")
    rows = 0
    if secrets:
        for rowid, raw, detail in con.execute(
            "select rowid, raw, detail from raw.quarantine where org_id = ? or org_id is null", [e.org_id]
        ).fetchall():
            new_raw = scrub_text(raw, secrets, replacement) if raw else raw
            new_detail = scrub_text(detail, secrets, replacement) if detail else detail
            if (new_raw, new_detail) != (raw, detail):
                con.execute(
                    "update raw.quarantine set raw = ?, detail = ? where rowid = ?",
                    [new_raw, new_detail, rowid],
                )
                rows += 1
    if kept is None:
        con.execute(
            "insert into identity.erasures values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                e.org_id,
                e.audit_id,
                e.contact_id,
                e.actor,
                e.occurred_at,
                sha(e.reason) if e.reason else None,
                sorted(key_hashes),
                sorted(value_hashes),
                len(edited),
                rows,
                now,
            ],
        )
    elif edited or rows:
        con.execute(
            """update identity.erasures set key_hashes = ?, value_hashes = ?,
                   events_scrubbed = events_scrubbed + ?, quarantine_rows_scrubbed = quarantine_rows_scrubbed + ?
               where org_id = ? and audit_id = ?""",
            [sorted(key_hashes), sorted(value_hashes), len(edited), rows, e.org_id, e.audit_id],
        )
    if edited or rows:
        report.redactions += 1
        report.events += len(edited)
        report.quarantine_rows += rows
        report.audit_ids.append(e.audit_id)
        report.event_keys += [(e.org_id, k) for k in sorted(edited)]
