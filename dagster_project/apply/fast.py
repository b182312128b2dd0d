"""The set-based fast path of an apply batch: clusters the Python fold would treat plainly, folded in DuckDB.

Why: a first load spends most of its time in per-event Python (loading the events, the fold, the memory
capture, building the frames). For a cluster whose events need none of the fold's special cases the
result is a few aggregates over its events, which DuckDB computes for the whole batch at once and
writes with `INSERT … SELECT`; the Python fold keeps every other cluster.

Eligible (everything else goes to the Python fold, which stays the reference):
- the cluster is one signal (no candidate links it: links, pending links and client roll-ups are the
  fold's), its org's config folded;
- its events are only `signal.created`, `signal.touched`, `signal.dismissed` and `signal.updated`
  (no notes, no memory events, so no classifier, correction or redaction), with exactly one
  `signal.created`, first in event order (nothing is rejected: no unknown entity, no re-creation);
- every value the fold copies is JSON text or null (`owner`, `source_type`, the `contact_*` and
  company fields), every value an atom's text is made of is printable ASCII (so `clean_text`'s
  whitespace split and the content hash's lower-casing are the same in SQL), no payload carries
  erased hashes, and every event loads in Python (time within `datetime`'s range, a JSON object payload
  without lone surrogate escapes and well under orjson's nesting limit).

`tests/lifecycle/test_apply_equivalence.py` holds the result to the Python fold, table by table.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import duckdb
import polars as pl

from dagster_project.config.registry import ConfigRegistry
from dagster_project.memory.atoms import ERASED_HASHES

# The event names a fast cluster may hold.
SIGNAL_EVENTS = ("signal.created", "signal.touched", "signal.dismissed", "signal.updated")
# Payload fields the fold copies as they are (each must be JSON text or null).
_COPIED = (
    "owner",
    "source_type",
    "source_system",
    "source_id",
    "contact_name",
    "contact_email",
    "contact_phone",
    "company_name",
    "company_domain",
)
# Payload fields atom texts are made of (each must also be printable ASCII).
_TEXT = ("source_type", "company_name", "company_domain", "snippet", "channel", "reason")
_MAX_TIME = "9999-12-31 23:59:59.999999+00"  # datetime.max: where a retention past the calendar stops


def _text_ok(field: str, ascii_only: bool) -> str:
    kind = f"json_type(payload, '$.{field}')"
    ok = f"({kind} is null or {kind} in ('VARCHAR', 'NULL'))"
    if ascii_only:
        ok += f" and coalesce(regexp_full_match(payload->>'$.{field}', '[ -~]*'), true)"
    return ok


def _event_ok() -> str:
    checks = [
        f"event_name in {SIGNAL_EVENTS!r}",
        "occurred_at >= timestamptz '0001-01-01 00:00:00+00'",
        "occurred_at <= timestamptz '9999-12-31 23:59:59.999999+00'",
        # orjson refuses a lone surrogate and nesting past its limit; such an event fails in Python.
        r"not coalesce(regexp_matches(payload, '\\[uU][dD][89a-fA-F]'), false)",
        "coalesce(length(payload) - length(replace(replace(payload, '[', ''), '{', '')), 0) < 500",
        f"not coalesce(json_exists(payload, '$.{ERASED_HASHES}'), false)",
    ]
    checks += [_text_ok(f, f in _TEXT) for f in dict.fromkeys((*_COPIED, *_TEXT))]
    # DuckDB evaluates every operand of an `and` (a JSON function raises on text that is not JSON), so
    # the payload's checks run only under a `case` that found it a JSON object.
    return f"""case when payload is null then false
                    when not json_valid(payload) then false
                    when json_type(payload) <> 'OBJECT' then false
                    else {" and ".join(f"({c})" for c in checks)} end"""


def select_fast(
    con: duckdb.DuckDBPyConnection, registries: dict[str, ConfigRegistry], as_of: datetime
) -> list[tuple[str, str]]:
    """Pick the batch's fast clusters (from `apply_events`, `apply_map`) and register what their rows need.

    `apply_events` holds every event the batch folds, with its `cluster_id`; clusters of orgs without a
    registry (their config failed) are left to the Python path, which reports them."""
    retention = [
        (
            org,
            timedelta(days=registry.value(org, "memory.retention_days.status", as_of))
            // timedelta(microseconds=1),
        )
        for org, registry in registries.items()
    ]
    con.register(
        "apply_fast_retention",
        pl.DataFrame(
            retention, schema={"org_id": pl.Utf8, "retention_us": pl.Int64}, orient="row"
        ).to_arrow(),
    )
    con.execute(
        f"""create or replace temp table apply_fast_clusters as
        with single as (
            select org_id, cluster_id from apply_map group by org_id, cluster_id
            having count(*) = 1 and bool_and(entity_type = 'signal')
        ),
        ranked as (
            select e.*, row_number() over (partition by e.org_id, e.cluster_id
                                           order by e.occurred_at, e.event_id) as n
            from apply_events e semi join single s using (org_id, cluster_id)
        )
        select org_id, cluster_id, count(*) as events from ranked
        semi join apply_fast_retention using (org_id)
        group by org_id, cluster_id
        having bool_and({_event_ok()})
           and count(*) filter (where event_name = 'signal.created') = 1
           and bool_or(n = 1 and event_name = 'signal.created')"""
    )
    con.execute(
        """create or replace temp table apply_fast_events as
        select e.*, row_number() over (partition by e.org_id, e.cluster_id
                                       order by e.occurred_at, e.event_id) as n
        from apply_events e semi join apply_fast_clusters f using (org_id, cluster_id)"""
    )
    con.execute(_SIGNALS_SQL)
    return [(org, cluster) for org, cluster, _ in con.execute("select * from apply_fast_clusters").fetchall()]


def fast_event_count(con: duckdb.DuckDBPyConnection) -> int:
    return con.execute("select coalesce(sum(events), 0) from apply_fast_clusters").fetchone()[0]


def first_events(con: duckdb.DuckDBPyConnection) -> dict[tuple[str, str, str], datetime]:
    """Each fast entity's earliest event time (`entity_clusters.first_event_at`)."""
    rows = con.execute(
        "select org_id, entity_type, entity_id, min(occurred_at) from apply_fast_events group by all"
    ).fetchall()
    return {(org, kind, entity): at for org, kind, entity, at in rows}


# One row per fast signal: its creation, first touch, first dismissal and current owner.
_SIGNALS_SQL = """create or replace temp table apply_fast_signals as
    select org_id, cluster_id, entity_id as signal_id,
        arg_min(event_id, n) filter (where event_name = 'signal.created') as created_id,
        min(occurred_at) filter (where event_name = 'signal.created') as created_at,
        arg_min({'actor': actor}, n) filter (where event_name = 'signal.created').actor as created_actor,
        arg_min({'p': payload}, n) filter (where event_name = 'signal.created').p as created_payload,
        min(n) filter (where event_name = 'signal.touched') as touch_n,
        arg_min(event_id, n) filter (where event_name = 'signal.touched') as touch_id,
        min(occurred_at) filter (where event_name = 'signal.touched') as touch_at,
        arg_min({'actor': actor}, n) filter (where event_name = 'signal.touched').actor as touch_actor,
        arg_min({'p': payload}, n) filter (where event_name = 'signal.touched').p as touch_payload,
        min(n) filter (where event_name = 'signal.dismissed') as dismiss_n,
        arg_min(event_id, n) filter (where event_name = 'signal.dismissed') as dismiss_id,
        min(occurred_at) filter (where event_name = 'signal.dismissed') as dismiss_at,
        arg_min({'actor': actor}, n) filter (where event_name = 'signal.dismissed').actor as dismiss_actor,
        arg_min({'p': payload}, n) filter (where event_name = 'signal.dismissed').p as dismiss_payload,
        arg_max({'owner': payload->>'$.owner'}, n) filter (
            where event_name = 'signal.created'
               or (event_name = 'signal.updated' and json_exists(payload, '$.owner'))
        ).owner as owner,
        max(occurred_at) as last_event_at
    from apply_fast_events group by org_id, cluster_id, entity_id"""


def _clean(expr: str) -> str:
    """`clean_text` of an ASCII JSON text: whitespace runs to one space, trimmed, empty is null."""
    return f"nullif(trim(regexp_replace({expr}, ' +', ' ', 'g')), '')"


# Per table, the SELECT that gives the fast clusters' rows (columns in `rows.SCHEMAS` order, then
# cluster_id).
_ROWS: dict[str, str] = {
    "signals": """
        select org_id, signal_id,
            case when dismiss_n is not null then 'dismissed' when touch_n is not null then 'touched'
                 else 'open' end,
            owner, created_payload->>'$.source_type', created_at, touch_at, dismiss_at,
            null, null, []::varchar[],
            coalesce(dismiss_at, touch_at, created_at), last_event_at, cluster_id
        from apply_fast_signals""",
    "transitions": """
        select org_id, 'signal', signal_id, null, 'open', created_at, created_id, false, cluster_id
        from apply_fast_signals
        union all
        select org_id, 'signal', signal_id, 'open', 'touched', touch_at, touch_id, false, cluster_id
        from apply_fast_signals where touch_n < coalesce(dismiss_n, touch_n + 1)
        union all
        select org_id, 'signal', signal_id,
            case when touch_n < dismiss_n then 'touched' else 'open' end, 'dismissed',
            dismiss_at, dismiss_id, false, cluster_id
        from apply_fast_signals where dismiss_n is not null""",
    "event_outcomes": """
        select org_id, event_id, event_name, entity_type, entity_id, occurred_at, 'applied', cluster_id
        from apply_fast_events""",
    "contact_records": """
        select org_id, 'signal', signal_id, p->>'$.source_system', p->>'$.source_id',
            p->>'$.contact_name', p->>'$.contact_email', p->>'$.contact_phone', null, null,
            p->>'$.company_name', p->>'$.company_domain', p->>'$.owner', [signal_id], null,
            created_at, created_at, cluster_id
        from (select *, created_payload as p from apply_fast_signals)
        where coalesce(p->>'$.contact_name', '') <> '' or coalesce(p->>'$.contact_email', '') <> ''
           or coalesce(p->>'$.contact_phone', '') <> ''""",
}

# The automatic atoms of a fast signal: creation, first touch, dismissal (memory/capture.py's texts).
_ATOMS = f"""
    with source as (
        select s.*, coalesce({_clean("created_payload->>'$.source_type'")}, 'unknown source') as source,
            coalesce({_clean("created_payload->>'$.company_name'")},
                     {_clean("created_payload->>'$.company_domain'")}) as company,
            {_clean("created_payload->>'$.snippet'")} as snippet
        from apply_fast_signals s
    ),
    atoms as (
        select org_id, cluster_id, signal_id, created_id as event_id, created_at as occurred_at,
            created_actor as actor, 'created' as rule, ['creation', source] as tags,
            'Signal received via ' || source || coalesce(' from ' || company, '')
                || coalesce(': ' || snippet, '') as content
        from source
        union all
        select org_id, cluster_id, signal_id, touch_id, touch_at, touch_actor, 'touched', ['touch'],
            'Signal first touched' || coalesce(' via ' || {_clean("touch_payload->>'$.channel'")}, '')
        from apply_fast_signals where touch_n < coalesce(dismiss_n, touch_n + 1)
        union all
        select org_id, cluster_id, signal_id, dismiss_id, dismiss_at, dismiss_actor, 'dismissed',
            ['dismissal'],
            'Signal dismissed' || coalesce(' - ' || {_clean("dismiss_payload->>'$.reason'")}, '')
        from apply_fast_signals where dismiss_n is not null
    )
    select a.org_id, a.event_id || ':' || a.rule, 'signal', a.signal_id, null, 'status', a.content,
        'system', null, null, 1.0, a.tags, a.rule, null, a.actor, a.occurred_at,
        least(a.occurred_at + to_microseconds(r.retention_us), timestamptz '{_MAX_TIME}'), false,
        sha256(lower(a.content)), 1, a.event_id, null, null, a.cluster_id
    from atoms a join apply_fast_retention r using (org_id)"""
_ROWS["memory_atoms"] = _ATOMS


def insert_rows(con: duckdb.DuckDBPyConnection, table: str, columns: list[str]) -> None:
    """Insert the fast clusters' rows of `table` (a no-op for a table they have none of)."""
    select = _ROWS.get(table)
    if select is not None:
        con.execute(f"insert into core.{table} ({', '.join(columns)}) {select}")
