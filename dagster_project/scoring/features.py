"""What each pursuit looked like when it entered an open stage: the features scoring may use.

No leakage: a pursuit is described as it was when it entered an open stage, from what was recorded up to
that moment, never by its final stage, its reason or its close-time checklist. A closed pursuit gives
one row per open stage it entered before its close (the last, `is_last`, is the one calibration and the
patterns read); an open pursuit gives the row of its current stage, so it is scored on the same footing
as the rows the model learned from. Everything is read from the warehouse's core tables (and the event
log for checklist ticks and proposals), as of the run's as-of; docs/scoring.md lists the features.
"""

from __future__ import annotations

import duckdb
import polars as pl

from dagster_project.contract.events import PURSUIT_STAGES, SOURCE_TYPES, VALUE_BANDS
from dagster_project.contract.states import PURSUIT_CLOSED

OPEN_STAGES: tuple[str, ...] = tuple(s for s in PURSUIT_STAGES if s not in PURSUIT_CLOSED)
RISK_MITIGATION_TAG = "risk-mitigation"  # a risk atom with this tag says how the risk is handled
ATOM_TYPES = ("decision", "risk", "preference", "note", "status")
APPLIED = ("applied", "warned")
# Pursuits whose facts one query reads at most (about): its memory follows their stage entries.
PURSUITS_PER_READ = 15_000

# The org's stage entries and the two kinds of event the facts read from the log, each computed once per
# org into a temporary table its shares then read: read per share, the log's scan and its join with the
# outcomes were most of every share's time.
_PREPARE = (
    """
create or replace temp table facts_cut as
with

p as (
    select org_id, pursuit_id, candidate_id, client_id, forecast_value_usd, outcome, created_at, closed_at,
        json_keys(coalesce(pink_checklist, '{}')) as pink_items,
        json_keys(coalesce(red_checklist, '{}')) as red_items
    from core.pursuits
    where list_contains($orgs, org_id)
),

entries as (
    select t.org_id, t.entity_id as pursuit_id, t.to_state, t.occurred_at, t.event_id
    from core.transitions t
    where list_contains($orgs, t.org_id) and t.entity_type = 'pursuit' and list_contains($open_stages, t.to_state)
),

snapshots as (
    -- A closed pursuit: one row per entry into an open stage before its close (the model learns what a
    -- pursuit entering that stage goes on to do); the last of them is the one calibration and patterns
    -- read. An open pursuit: its current stage's entry only.
    select p.*, e.to_state as last_open_stage, e.occurred_at as cutoff, e.event_id as snap,
        row_number() over (
            partition by p.org_id, p.pursuit_id order by e.occurred_at desc, e.event_id desc
        ) = 1 as is_last
    from p
    join entries e on e.org_id = p.org_id and e.pursuit_id = p.pursuit_id
        and (p.closed_at is null or e.occurred_at <= p.closed_at)
)

-- Each pursuit's rows in one share of the org's (`read_pursuit_facts` reads a share at a time).
select *, hash(pursuit_id) % $shares as share from snapshots where is_last or closed_at is not null
""",
    """
create or replace temp table facts_applied as
select r.org_id, r.entity_id, r.event_name, r.occurred_at,
    case when r.event_name = 'pursuit.checklist_item_set' then r.payload ->> 'checklist' end as checklist,
    case when r.event_name = 'pursuit.checklist_item_set' then r.payload ->> 'item' end as item,
    case when r.event_name = 'pursuit.checklist_item_set' then cast(r.payload ->> 'done' as boolean) end as done
from raw.events r
join core.event_outcomes o on o.org_id = r.org_id and o.event_id = r.event_id
where list_contains($orgs, r.org_id) and list_contains($orgs, o.org_id)
    and r.event_name in ('pursuit.checklist_item_set', 'pursuit.proposal_sent')
    and list_contains($applied, o.outcome)
    and r.occurred_at <= (select as_of from core.run_clock)
""",
)

_SQL = """
with

p as (
    select org_id, pursuit_id, client_id, outcome, closed_at
    from core.pursuits
    where list_contains($orgs, org_id)
),

cut as (select * exclude (share) from facts_cut where share = $share),

ticks as (
    select c.org_id, c.pursuit_id, c.snap, a.checklist, a.item, arg_max(a.done, a.occurred_at) as done
    from cut c
    join facts_applied a on a.org_id = c.org_id and a.entity_id = c.pursuit_id and a.occurred_at <= c.cutoff
    where a.event_name = 'pursuit.checklist_item_set'
    group by all
),

done as (
    select org_id, pursuit_id, snap,
        list(checklist || ':' || item order by checklist, item) filter (where done) as done_items
    from ticks
    group by all
),

proposals as (
    select c.org_id, c.pursuit_id, c.snap, count(*) as proposal_versions
    from cut c
    join facts_applied a on a.org_id = c.org_id and a.entity_id = c.pursuit_id and a.occurred_at <= c.cutoff
    where a.event_name = 'pursuit.proposal_sent'
    group by all
),

candidate_signals as (
    select org_id, candidate_id, unnest(signal_ids) as signal_id from core.candidates
    where list_contains($orgs, org_id)
),

first_signal as (
    select c.org_id, c.pursuit_id, c.snap,
        arg_min(s.source_type, (s.created_at, s.signal_id)) as lead_source,
        arg_min(
            date_diff('second', s.created_at, least(coalesce(s.first_touched_at, c.cutoff), c.cutoff)),
            (s.created_at, s.signal_id)
        ) / 3600.0 as response_hours
    from cut c
    join candidate_signals k on k.org_id = c.org_id and k.candidate_id = c.candidate_id
    join core.signals s on s.org_id = k.org_id and s.signal_id = k.signal_id
    group by all
),

-- The pursuit's and its candidate's atoms recorded by each row's cutoff, carrying the row's keys (org,
-- pursuit, snap): grouped as they come, without joining the cut again.
atoms as (
    select m.org_id, m.pursuit_id, m.snap,
        list_sort(list_distinct(list(m.atom_type))) as atom_types,
        list_sort(list_distinct(flatten(list(coalesce(m.tags, []))))) as atom_tags,
        count(distinct m.atom_id) filter (
            where m.atom_type = 'risk' and list_contains(m.tags, $mitigation)
        ) as risk_mitigations,
        count(distinct m.atom_id) filter (
            where m.atom_type = 'risk' and not list_contains(coalesce(m.tags, []), $mitigation)
        ) as open_risks,
        count(distinct m.atom_id) filter (where m.atom_type = 'preference') as preferences,
        count(distinct m.atom_id) filter (where m.atom_type = 'decision') as decisions
    from (
        select c.org_id, c.pursuit_id, c.snap, m.atom_id, m.atom_type, m.tags
        from cut c
        join core.memory_atoms m on m.org_id = c.org_id and m.entity_type = 'pursuit'
            and m.entity_id = c.pursuit_id and m.occurred_at <= c.cutoff
        union all
        select c.org_id, c.pursuit_id, c.snap, m.atom_id, m.atom_type, m.tags
        from cut c
        join core.memory_atoms m on m.org_id = c.org_id and m.entity_type = 'candidate'
            and m.entity_id = c.candidate_id and m.occurred_at <= c.cutoff
    ) m
    group by m.org_id, m.pursuit_id, m.snap
),

quiet as (
    select c.org_id, c.pursuit_id, c.snap,
        date_diff('second', max(o.occurred_at), c.cutoff) / 86400.0 as quiet_days
    from cut c
    join core.event_outcomes o on o.org_id = c.org_id and o.entity_type = 'pursuit'
        and o.entity_id = c.pursuit_id and o.occurred_at < c.cutoff and list_contains($applied, o.outcome)
    group by c.org_id, c.pursuit_id, c.snap, c.cutoff
),

client_industry as (
    select org_id, client_id, max(industry) as industry from core.client_parts
    where list_contains($orgs, org_id)
    group by all
),

history as (
    select c.org_id, c.pursuit_id, c.snap,
        count(h.pursuit_id) as client_closed,
        count(h.pursuit_id) filter (where h.outcome = 'won') as client_won
    from cut c
    join p h on h.org_id = c.org_id and h.client_id = c.client_id and h.pursuit_id <> c.pursuit_id
        and h.closed_at is not null and h.closed_at < c.cutoff
    group by all
)

select
    c.org_id, c.pursuit_id, c.client_id, ci.industry, k.value_band, c.forecast_value_usd,
    c.outcome, c.created_at, c.closed_at, c.cutoff, c.last_open_stage, c.snap, c.is_last,
    date_diff('second', c.created_at, c.cutoff) / 86400.0 as days_to_stage,
    len(c.pink_items) as pink_total, len(c.red_items) as red_total, c.pink_items,
    coalesce(d.done_items, []) as done_items,
    coalesce(pr.proposal_versions, 0) as proposal_versions,
    fs.lead_source, fs.response_hours,
    coalesce(a.atom_types, []) as atom_types, coalesce(a.atom_tags, []) as atom_tags,
    coalesce(a.risk_mitigations, 0) as risk_mitigations, coalesce(a.open_risks, 0) as open_risks,
    coalesce(a.preferences, 0) as preferences, coalesce(a.decisions, 0) as decisions,
    coalesce(q.quiet_days, 0.0) as quiet_days,
    coalesce(h.client_closed, 0) as client_closed, coalesce(h.client_won, 0) as client_won
from cut c
left join core.candidates k on k.org_id = c.org_id and k.candidate_id = c.candidate_id
left join client_industry ci on ci.org_id = c.org_id and ci.client_id = c.client_id
left join done d on d.org_id = c.org_id and d.pursuit_id = c.pursuit_id and d.snap = c.snap
left join proposals pr on pr.org_id = c.org_id and pr.pursuit_id = c.pursuit_id and pr.snap = c.snap
left join first_signal fs on fs.org_id = c.org_id and fs.pursuit_id = c.pursuit_id and fs.snap = c.snap
left join atoms a on a.org_id = c.org_id and a.pursuit_id = c.pursuit_id and a.snap = c.snap
left join quiet q on q.org_id = c.org_id and q.pursuit_id = c.pursuit_id and q.snap = c.snap
left join history h on h.org_id = c.org_id and h.pursuit_id = c.pursuit_id and h.snap = c.snap
order by c.org_id, c.pursuit_id, c.cutoff, c.snap
"""


def read_pursuit_facts(con: duckdb.DuckDBPyConnection, orgs: list[str] | None = None) -> pl.DataFrame:
    """One row per pursuit (open or closed) with what was known when it entered its last open stage.

    Read one org at a time (`orgs` None: every org with a pursuit), in org order, and an org with many
    pursuits in shares of about `PURSUITS_PER_READ` of them: the query's joins and aggregates over every
    stage entry of the pursuits it reads hold their inputs in memory together, so reading all orgs at
    once broke the pipeline's DuckDB cap on a large first import, and so did one org of a 5M-event
    history (benchmarks/README.md). What every share reads alike is prepared once per org. Each org's
    model only ever reads its own rows; the shares' rows are put back in the query's order."""
    if orgs is None:
        orgs = [r[0] for r in con.execute("select distinct org_id from core.pursuits order by 1").fetchall()]
    parts = []
    try:
        for org in orgs:
            (count,) = con.execute("select count(*) from core.pursuits where org_id = ?", [org]).fetchone()
            shares = max(1, -(-count // PURSUITS_PER_READ))
            _prepare(con, [org], shares)
            parts += [_read_share(con, [org], share) for share in range(shares)]
        if not parts:
            return _read_facts(con, [], 0, 1)
    finally:
        _drop(con)
    facts = pl.concat(parts, how="vertical")
    return facts.sort("org_id", "pursuit_id", "cutoff", "snap", nulls_last=True) if len(parts) > 1 else facts


def _read_facts(con: duckdb.DuckDBPyConnection, orgs: list[str], share: int, shares: int) -> pl.DataFrame:
    """One share of the facts of `orgs`, read together (their stage entries prepared for this read alone)."""
    try:
        _prepare(con, orgs, shares)
        return _read_share(con, orgs, share)
    finally:
        _drop(con)


def _prepare(con: duckdb.DuckDBPyConnection, orgs: list[str], shares: int) -> None:
    params = {"orgs": orgs, "open_stages": list(OPEN_STAGES), "applied": list(APPLIED), "shares": shares}
    for sql in _PREPARE:
        con.execute(sql, {k: v for k, v in params.items() if f"${k}" in sql})


def _read_share(con: duckdb.DuckDBPyConnection, orgs: list[str], share: int) -> pl.DataFrame:
    params = {
        "orgs": orgs,
        "applied": list(APPLIED),
        "mitigation": RISK_MITIGATION_TAG,
        "share": share,
    }
    return con.execute(_SQL, params).pl()


def _drop(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("drop table if exists facts_cut")
    con.execute("drop table if exists facts_applied")


def model_matrix(facts: pl.DataFrame) -> pl.DataFrame:
    """The numeric features of each pursuit (one column each), in `FEATURES` order.

    `pace_log_ratio` is filled in per org by the model (it compares with the org's own history).
    """
    done_share = pl.col("done_items").list.len() / (pl.col("pink_total") + pl.col("red_total")).clip(1)
    client_rate = (pl.col("client_won") + 1) / (pl.col("client_closed") + 2)
    cols = [
        *[(pl.col("last_open_stage") == s).cast(pl.Float64).alias(f"stage_{s}") for s in OPEN_STAGES[1:]],
        pl.lit(0.0).alias("pace_log_ratio"),
        done_share.clip(0, 1).cast(pl.Float64).alias("checklist_done_share"),
        pl.col("response_hours").fill_null(24 * 7).clip(0).log1p().alias("response_hours_log"),
        pl.col("quiet_days").clip(0).log1p().alias("quiet_days_log"),
        *[(pl.col("value_band") == b).cast(pl.Float64).alias(f"band_{b}") for b in VALUE_BANDS[1:]],
        (client_rate - 0.5).cast(pl.Float64).alias("client_win_rate"),
        pl.col("client_closed").cast(pl.Float64).log1p().alias("client_closed_log"),
        pl.col("risk_mitigations").clip(0, 3).cast(pl.Float64).alias("risk_mitigations"),
        pl.col("open_risks").clip(0, 3).cast(pl.Float64).alias("open_risks"),
        pl.col("preferences").clip(0, 3).cast(pl.Float64).alias("preferences"),
        pl.col("decisions").clip(0, 3).cast(pl.Float64).alias("decisions"),
        *[(pl.col("lead_source") == s).cast(pl.Float64).alias(f"source_{s}") for s in SOURCE_TYPES[1:]],
    ]
    return facts.select(cols).fill_null(0.0)


# Each component of the score and the features it sums (its share of the log-odds).
COMPONENTS: dict[str, tuple[str, ...]] = {
    "stage": tuple(f"stage_{s}" for s in OPEN_STAGES[1:]),
    "age_in_stage": ("pace_log_ratio",),
    "checklist": ("checklist_done_share",),
    "sla_record": ("response_hours_log",),
    "engagement_recency": ("quiet_days_log",),
    "value_band": tuple(f"band_{b}" for b in VALUE_BANDS[1:]),
    "client_history": ("client_win_rate", "client_closed_log"),
    "memory": ("risk_mitigations", "open_risks", "preferences", "decisions"),
    "lead_source": tuple(f"source_{s}" for s in SOURCE_TYPES[1:]),
}
FEATURES: tuple[str, ...] = tuple(f for feats in COMPONENTS.values() for f in feats)
