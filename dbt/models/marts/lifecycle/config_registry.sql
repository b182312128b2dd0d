-- Each org's effective config values and their history, with the value in force at the as-of time flagged.
with

config_registry as (

    select * from {{ ref('stg_lifecycle__config_registry') }}

),

final as (

    select
        org_id,
        key,
        value,
        effective_from,
        effective_to,
        event_id,
        source,
        -- in force from effective_from (inclusive) until effective_to (exclusive); null bounds are open
        coalesce(effective_from <= {{ as_of() }}, true)
            and coalesce(effective_to > {{ as_of() }}, true) as in_force,
        {{ as_of() }} as built_at
    from config_registry

)

select * from final
