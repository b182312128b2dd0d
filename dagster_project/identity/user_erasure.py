"""Forgetting a user of the org (`user.erased`): the name, email and title that `user.updated` events up
to the erasure's time gave them leave the event log, so no as-of shows them again (docs/contract.md).

Narrower than forgetting a contact (erasure.py): a user is named only by their own `user.updated`
events, so those are the copies to scrub; the user id stays, since it is what `owner`, `capture_lead`
and `actor` hold. A scrubbed payload names the erasure (`erased_by`), and the scrub is idempotent: a
payload without the fields is not read again. A `user.updated` dated after the erasure is new data and
stays.
"""

from __future__ import annotations

import duckdb
import orjson
import pyarrow as pa

from dagster_project.lifecycle.entities import USER_PERSONAL_FIELDS
from dagster_project.memory.governance import ScrubReport, await_refold

_NAMED = " or ".join(f"json_exists(e.payload, '$.{f}')" for f in USER_PERSONAL_FIELDS)


def scrub_erased_users(con: duckdb.DuckDBPyConnection) -> ScrubReport:
    """Remove erased users' names from the log in one transaction; report the events to re-fold."""
    rows = con.execute(
        f"""select e.org_id, e.event_id, e.payload, min_by(x.event_id, x.occurred_at) as erased_by
            from raw.events e
            join raw.events x
              on x.org_id = e.org_id and x.entity_id = e.entity_id and x.entity_type = 'user'
             and x.event_name = 'user.erased' and x.occurred_at >= e.occurred_at
            where e.event_name = 'user.updated' and e.entity_type = 'user' and ({_NAMED})
            group by e.org_id, e.event_id, e.payload
            order by e.org_id, e.event_id"""
    ).fetchall()
    report = ScrubReport()
    if not rows:
        return report
    edited: dict[str, list[tuple[str, str]]] = {}
    for org_id, event_id, payload, erased_by in rows:
        data = orjson.loads(payload) if payload else {}
        if not isinstance(data, dict):
            continue
        for name in USER_PERSONAL_FIELDS:
            data.pop(name, None)
        data["erased_by"] = erased_by
        edited.setdefault(org_id, []).append((event_id, orjson.dumps(data).decode()))
        report.event_keys.append((org_id, event_id))
        if erased_by not in report.audit_ids:
            report.audit_ids.append(erased_by)
    con.execute("begin transaction")
    try:
        for org_id, changes in edited.items():
            con.register(
                "erased_user_payloads",
                pa.table({"event_id": [c[0] for c in changes], "payload": [c[1] for c in changes]}),
            )
            con.execute(
                """update raw.events e set payload = s.payload from erased_user_payloads s
                   where e.org_id = ? and e.event_id = s.event_id""",
                [org_id],
            )
            con.unregister("erased_user_payloads")
        await_refold(con, report.event_keys)
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    report.events = len(report.event_keys)
    # Counted as redactions: the publish then rewrites the warehouse file and drops the log's old copies.
    report.redactions = len(report.audit_ids)
    return report
