"""The quarantine's half of a scrub (memory/governance.py drives it): quarantined lines hold raw text in
any encoding the input used, so each is judged by its decoded content (`text_scrub.scrub_text`)."""

from __future__ import annotations

from collections import defaultdict

import duckdb
import pyarrow as pa

from dagster_project.memory.text_scrub import SecretFinder, judged_layers, scrub_text


def scrub_quarantine(
    con: duckdb.DuckDBPyConnection, jobs: list[tuple[set[str], dict[tuple[str, str], tuple[str, ...]], str]]
) -> list[int]:
    """Per job (secrets, source events → their fields to blank, replacement): the rows it changed.

    Quarantined lines hold raw text in any encoding the input used (JSON escapes such as `\\u00f6`, a
    CSV row's payload as a JSON string inside JSON, a ragged row split at a comma), so each row is judged
    by its decoded content (`scrub_text`), and a quarantined copy of a source event (same org and event
    id, e.g. a conflicting re-send, whenever it arrived) loses those payload fields whatever they say.
    Only when some job still has secret texts are all rows read; else only the copies, by key.
    """
    counts = [0] * len(jobs)
    keys = sorted({key for _, copies, _ in jobs for key in copies})
    if any(secrets for secrets, _, _ in jobs):
        rows = con.execute(
            "select rowid, org_id, event_id, raw, detail from raw.quarantine order by rowid"
        ).fetchall()
    elif keys:
        con.register(
            "scrub_copy_keys",
            pa.table({"org_id": [k[0] for k in keys], "event_id": [k[1] for k in keys]}),
        )
        rows = con.execute(
            """select q.rowid, q.org_id, q.event_id, q.raw, q.detail
               from raw.quarantine q join scrub_copy_keys k using (org_id, event_id)
               order by q.rowid"""
        ).fetchall()
        con.unregister("scrub_copy_keys")
    else:
        return counts
    current = {rowid: [raw, detail] for rowid, _, _, raw, detail in rows}
    dirty: set[int] = set()
    # Each row meets the jobs in their order, as if every job were tried on every row, but only the jobs
    # that can change it are tried: `scrub_text` leaves a text as it is unless one of the job's secrets
    # occurs in a layer it judges (`judged_layers`) or the row is a copy whose fields the job blanks.
    # Trying every job on every row cost jobs × rows decodes, which grows with the square of the history.
    jobs_of_secret: dict[str, list[int]] = defaultdict(list)
    jobs_of_copy: dict[tuple[str, str], list[int]] = defaultdict(list)
    for j, (secrets, copies, _) in enumerate(jobs):
        for secret in secrets:
            if secret:
                jobs_of_secret[secret].append(j)
        for key in copies:
            jobs_of_copy[key].append(j)
    finder = SecretFinder(set(jobs_of_secret))

    def jobs_holding(raw: str | None, detail: str | None) -> set[int]:
        texts = [layer for text in (raw, detail) if text for layer in judged_layers(text)]
        return {j for secret in finder.found(texts) for j in jobs_of_secret[secret]}

    for rowid, org_id, event_id, _, _ in rows:
        raw, detail = current[rowid]
        pending = set(jobs_of_copy.get((org_id, event_id), ())) | jobs_holding(raw, detail)
        while pending:
            j = min(pending)
            pending.discard(j)
            secrets, copies, replacement = jobs[j]
            fields = copies.get((org_id, event_id), ())
            new_raw = scrub_text(raw, secrets, replacement, payload_fields=fields) if raw else raw
            new_detail = scrub_text(detail, secrets, replacement) if detail else detail
            if (new_raw, new_detail) != (raw, detail):
                raw, detail = current[rowid] = [new_raw, new_detail]
                dirty.add(rowid)
                counts[j] += 1
                # The text changed: the later jobs whose secrets it holds now.
                pending |= {k for k in jobs_holding(raw, detail) if k > j}
    if dirty:
        ids = sorted(dirty)
        con.register(
            "scrub_quarantine_rows",
            pa.table(
                {
                    "row_id": pa.array(ids, pa.int64()),
                    "raw": pa.array([current[r][0] for r in ids], pa.string()),
                    "detail": pa.array([current[r][1] for r in ids], pa.string()),
                }
            ),
        )
        con.execute(
            """update raw.quarantine q set raw = s.raw, detail = s.detail
               from scrub_quarantine_rows s where q.rowid = s.row_id"""
        )
        con.unregister("scrub_quarantine_rows")
    return counts
