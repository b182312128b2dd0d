-- SLA compliance per org and metric as of the as-of time; all three metrics for every org with events
-- (zero-filled). The threshold shown is the one in force at the as-of time.
with

orgs as (

    select distinct org_id from {{ ref('stg_workstream__events') }}

),

metrics as (

    select * from (values ('triage'), ('proposal'), ('response')) as metrics (metric)

),

thresholds as (

    select
        org_id,
        split_part(key, '.', 2) as metric,
        cast(value as double) as threshold_hours
    from {{ ref('stg_lifecycle__config_registry') }}
    where key in ('sla.triage.threshold_hours', 'sla.proposal.threshold_hours', 'sla.response.threshold_hours')
        and coalesce(effective_from <= {{ as_of() }}, true)
        and coalesce(effective_to > {{ as_of() }}, true)

),

-- The health line (`health.sla_breach_rate_pct`) in force at the as-of time.
health_lines as (

    select org_id, cast(value as double) as health_line_pct
    from {{ ref('stg_lifecycle__config_registry') }}
    where key = 'health.sla_breach_rate_pct'
        and coalesce(effective_from <= {{ as_of() }}, true)
        and coalesce(effective_to > {{ as_of() }}, true)

),

counted as (

    select
        org_id,
        metric,
        count(*) filter (where is_eligible) as eligible_items,
        count(*) filter (where is_breached) as breached_items,
        count(*) filter (where status = 'breached_open') as open_breaches,
        count(*) filter (where status = 'at_risk') as at_risk_items
    from {{ ref('sla_clocks') }}
    group by org_id, metric

),

final as (

    select
        orgs.org_id,
        metrics.metric,
        thresholds.threshold_hours,
        cast(coalesce(counted.eligible_items, 0) as bigint) as eligible_items,
        cast(coalesce(counted.breached_items, 0) as bigint) as breached_items,
        cast(coalesce(counted.open_breaches, 0) as bigint) as open_breaches,
        cast(coalesce(counted.at_risk_items, 0) as bigint) as at_risk_items,
        100.0 * (counted.eligible_items - counted.breached_items) / nullif(counted.eligible_items, 0)
            as compliance_pct,
        100.0 * counted.breached_items / nullif(counted.eligible_items, 0) as breach_rate_pct,
        health_lines.health_line_pct,
        -- nothing eligible is not below the line
        coalesce(100.0 * counted.breached_items / nullif(counted.eligible_items, 0) > health_lines.health_line_pct, false)
            as below_health_line,
        {{ as_of() }} as built_at
    from orgs
    cross join metrics
    left join thresholds
        on thresholds.org_id = orgs.org_id
        and thresholds.metric = metrics.metric
    left join counted
        on counted.org_id = orgs.org_id
        and counted.metric = metrics.metric
    left join health_lines
        on health_lines.org_id = orgs.org_id

)

select * from final
