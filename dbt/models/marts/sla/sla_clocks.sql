-- Every SLA clock (org × item × metric) as of the as-of time, with its status (see int_sla__clocks).
with

clocks as (

    select * from {{ ref('int_sla__clocks') }}

),

final as (

    select
        org_id,
        item_type,
        item_id,
        metric,
        started_at,
        threshold_hours,
        deadline_at,
        stopped_at,
        elapsed_hours,
        status,
        is_eligible,
        is_breached,
        {{ as_of() }} as built_at
    from clocks

)

select * from final
