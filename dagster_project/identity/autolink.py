"""Auto-linking (`identity.auto_link`, default off): a known person's new signal joins their open work.

Identity resolution never changes a lifecycle outcome by itself. Where an org switches this on, a signal
of a resolved person that no candidate links yet (open or touched) is linked to the person's one open
candidate — the candidate that already links another of their signals — by an explicit
`candidate.updated` event (`signal_ids`) written to the inbox, so the log says who linked what and when,
and the next run applies it like any other event. A person with several open candidates gets none (a
person must choose; the Contacts page shows the suggestion). Event ids are derived from the pair, and a
pair whose event is already in the log is not written again.
"""

from __future__ import annotations

import hashlib
import os
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import orjson

ACTOR = "workstream-identity"
FILE_PREFIX = "identity-autolink-"

_SUGGESTIONS = """
with enabled as (
    select org_id from core.config_registry
    where key = 'identity.auto_link' and effective_to is null and value::varchar = 'true'
),
person_signals as (
    select l.org_id, l.canonical_id, l.record_id as signal_id
    from identity.links l join enabled using (org_id)
    where l.entity_type = 'contact' and l.record_type = 'signal'
    union
    select l.org_id, l.canonical_id, unnest(r.signal_ids) as signal_id
    from identity.links l join enabled using (org_id)
    join core.contact_records r
      on r.org_id = l.org_id and r.record_type = l.record_type and r.record_id = l.record_id
    where l.entity_type = 'contact' and l.record_type = 'contact'
),
open_work as (
    select distinct p.org_id, p.canonical_id, c.candidate_id
    from person_signals p
    join core.candidates c on c.org_id = p.org_id and list_contains(c.signal_ids, p.signal_id)
    where c.status not in ('archived', 'promoted')
),
one as (
    select org_id, canonical_id, min(candidate_id) as candidate_id
    from open_work group by org_id, canonical_id having count(*) = 1
)
select distinct p.org_id, o.candidate_id, p.signal_id
from person_signals p join one o using (org_id, canonical_id)
join core.signals s on s.org_id = p.org_id and s.signal_id = p.signal_id
where s.status in ('open', 'touched')
order by all
"""


def event_id(org_id: str, candidate_id: str, signal_id: str) -> str:
    digest = hashlib.sha256(f"{org_id}\x1f{candidate_id}\x1f{signal_id}".encode()).hexdigest()[:24]
    return f"autolink-{digest}"


def auto_link_events(con: duckdb.DuckDBPyConnection, *, now: datetime) -> list[dict]:
    """The `candidate.updated` events auto-linking asks for now (none for an org that has it off)."""
    exists = con.execute(
        "select count(*) from information_schema.tables where table_schema = 'identity' and table_name = 'links'"
    ).fetchone()[0]
    if not exists:
        return []
    events = []
    for org_id, candidate_id, signal_id in con.execute(_SUGGESTIONS).fetchall():
        events.append(
            {
                "event_id": event_id(org_id, candidate_id, signal_id),
                "org_id": org_id,
                "occurred_at": now.astimezone(UTC).isoformat(timespec="microseconds"),
                "event_name": "candidate.updated",
                "entity_type": "candidate",
                "entity_id": candidate_id,
                "actor": ACTOR,
                "payload": {"signal_ids": [signal_id]},
            }
        )
    if not events:
        return []
    logged = {
        (org, eid)
        for org, eid in con.execute(
            "select org_id, event_id from raw.events where list_contains($ids, event_id)",
            {"ids": [e["event_id"] for e in events]},
        ).fetchall()
    }
    return [e for e in events if (e["org_id"], e["event_id"]) not in logged]


def write_auto_links(inbox: Path, events: list[dict]) -> Path | None:
    """One JSON Lines file of the events in the inbox (via a `.tmp` name the ingest skips), or None."""
    if not events:
        return None
    inbox.mkdir(parents=True, exist_ok=True)
    final = inbox / f"{FILE_PREFIX}{events[0]['event_id']}.jsonl"
    if final.exists():
        return final
    tmp = final.with_name(final.name + ".tmp")
    with tmp.open("wb") as out:
        out.write(b"".join(orjson.dumps(e, option=orjson.OPT_SORT_KEYS) + b"\n" for e in events))
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, final)
    return final
