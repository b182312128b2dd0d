-- Workload per org and owner over the Today panel rows that have an owner (candidate owners and
-- pursuit capture leads share one id space). "Stale" uses the org's ranking cut-off
-- `ranking.candidate_urgency.stale_after_hours` in force at the as-of time.
with

panel as (

    select * from {{ ref('today_panel') }}
    where owner is not null

),

stale_cutoff as (

    select org_id, cast(value as double) as stale_after_hours
    from {{ ref('stg_lifecycle__config_registry') }}
    where key = 'ranking.candidate_urgency.stale_after_hours'
        and coalesce(effective_from <= {{ as_of() }}, true)
        and coalesce(effective_to > {{ as_of() }}, true)

),

final as (

    select
        panel.org_id,
        panel.owner,
        count(*) as total_items,
        count(*) filter (where panel.priority_tier = 'critical') as critical_items,
        count(*) filter (where panel.priority_tier = 'high') as high_items,
        count(*) filter (where panel.priority_tier = 'medium') as medium_items,
        count(*) filter (where panel.priority_tier = 'low') as low_items,
        cast(avg(panel.priority_score) as double) as avg_priority_score,
        count(*) filter (where panel.badge = 'red') as sla_breaches,
        count(*) filter (where panel.badge = 'amber') as at_risk_items,
        count(*) filter (where panel.hours_since_touch > stale_cutoff.stale_after_hours) as stale_items,
        cast(max(panel.hours_since_touch) as double) as max_hours_without_touch,
        {{ as_of() }} as built_at
    from panel
    left join stale_cutoff
        on stale_cutoff.org_id = panel.org_id
    group by panel.org_id, panel.owner

)

select * from final
