-- Pairs waiting for a person's decision: a possible match below the org's threshold, or one person's
-- email on two clients. A governor's merge or split decision (an event) settles a possible match.
with

conflicts as (

    select * from {{ ref('stg_identity__conflicts') }}

),

final as (

    select
        org_id,
        entity_type,
        kind,
        left_id,
        right_id,
        detail,
        {{ as_of() }} as built_at
    from conflicts

)

select * from final
