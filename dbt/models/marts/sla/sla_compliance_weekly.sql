-- SLA compliance per org, metric and week (Monday, UTC) of the moment each clock became eligible: its stop for
-- clocks that met the SLA, its deadline (breached_at) for breaches. Only weeks with eligible clocks appear.
with

clocks as (

    select
        org_id,
        metric,
        is_breached,
        case when is_breached then deadline_at else stopped_at end as eligible_at,
        -- Whole microseconds, summed as integers below: a sum of doubles depends on the rows' order,
        -- which the same events reach in any order through different apply batches.
        case
            when is_breached then date_diff(
                'microsecond',
                deadline_at,
                case when status = 'breached_resolved' then stopped_at else {{ as_of() }} end
            )
            else 0
        end as microseconds_over_threshold
    from {{ ref('sla_clocks') }}
    where is_eligible

),

final as (

    select
        org_id,
        metric,
        cast(date_trunc('week', timezone('UTC', eligible_at)) as date) as week_start,
        count(*) as eligible_items,
        count(*) filter (where is_breached) as breached_items,
        100.0 * count(*) filter (where not is_breached) / count(*) as compliance_pct,
        cast(sum(microseconds_over_threshold) as double) / 3600000000.0 as hours_over_threshold,
        {{ as_of() }} as built_at
    from clocks
    group by org_id, metric, week_start

)

select * from final
