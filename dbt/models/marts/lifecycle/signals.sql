-- Every signal's current state as of the as-of time.
with

signals as (

    select * from {{ ref('stg_lifecycle__signals') }}

),

final as (

    select
        org_id,
        signal_id,
        status,
        owner,
        source_type,
        created_at,
        first_touched_at,
        dismissed_at,
        linked_at,
        linked_candidate_id,
        linked_candidate_ids,
        entered_state_at,
        last_event_at,
        {{ as_of() }} as built_at
    from signals

)

select * from final
