-- Memory health per org: memory work still queued in the outbox (every event may carry memory), the age of
-- the cards (rebuilt with each snapshot: the run's clock minus its as-of) and live atoms per type.
with

atoms as (

    select
        org_id,
        count(*) filter (where atom_type = 'decision') as atoms_decision,
        count(*) filter (where atom_type = 'risk') as atoms_risk,
        count(*) filter (where atom_type = 'preference') as atoms_preference,
        count(*) filter (where atom_type = 'note') as atoms_note,
        count(*) filter (where atom_type = 'status') as atoms_status,
        count(*) as atoms_live
    from {{ ref('memory_atoms') }}
    group by org_id

),

outbox as (

    select org_id, pending, oldest_pending_age_s from {{ ref('outbox_health') }}

),

orgs as (

    select org_id from atoms
    union
    select org_id from outbox

),

final as (

    select
        orgs.org_id,
        coalesce(o.pending, 0) as pending_memory_events,
        o.oldest_pending_age_s,
        cast(
            (select epoch(now) from {{ ref('stg_lifecycle__run_clock') }}) - epoch({{ as_of() }}) as double
        ) as oldest_card_age_s,
        coalesce(a.atoms_live, 0) as atoms_live,
        coalesce(a.atoms_decision, 0) as atoms_decision,
        coalesce(a.atoms_risk, 0) as atoms_risk,
        coalesce(a.atoms_preference, 0) as atoms_preference,
        coalesce(a.atoms_note, 0) as atoms_note,
        coalesce(a.atoms_status, 0) as atoms_status
    from orgs
    left join outbox as o on o.org_id = orgs.org_id
    left join atoms as a on a.org_id = orgs.org_id

)

select * from final
order by org_id
