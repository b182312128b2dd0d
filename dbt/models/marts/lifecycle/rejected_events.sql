-- Every event that broke a lifecycle rule as of the as-of time: rejected, or warned and applied anyway.
with

rejected_events as (

    select * from {{ ref('stg_lifecycle__rejected_events') }}

),

final as (

    select
        org_id,
        event_id,
        event_name,
        entity_type,
        entity_id,
        occurred_at,
        rule,
        detail,
        outcome,
        {{ as_of() }} as built_at
    from rejected_events

)

select * from final
