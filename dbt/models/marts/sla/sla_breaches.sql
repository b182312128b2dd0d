-- One row per breached SLA clock (item × metric): the breach happened at the deadline and is resolved at the
-- clock's stop (a stop after the deadline); open breaches have no resolved_at.
with

clocks as (

    select * from {{ ref('sla_clocks') }}
    where is_breached

),

final as (

    select
        org_id,
        item_type,
        item_id,
        metric,
        started_at,
        deadline_at as breached_at,
        case when status = 'breached_resolved' then stopped_at end as resolved_at,
        threshold_hours,
        cast(date_diff(
            'microsecond',
            deadline_at,
            case when status = 'breached_resolved' then stopped_at else {{ as_of() }} end
        ) as double) / 3600000000.0 as hours_over_threshold,
        status = 'breached_open' as is_open,
        {{ as_of() }} as built_at
    from clocks

)

select * from final
