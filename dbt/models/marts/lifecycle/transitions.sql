-- Every applied state change as of the as-of time (creations have from_state null).
with

transitions as (

    select * from {{ ref('stg_lifecycle__transitions') }}

),

final as (

    select
        org_id,
        entity_type,
        entity_id,
        from_state,
        to_state,
        occurred_at,
        event_id,
        warned,
        {{ as_of() }} as built_at
    from transitions

)

select * from final
