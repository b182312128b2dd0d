{{ config(materialized='view') }}
-- A view over its stored rows (kept incrementally by cluster): only `built_at` and the as-of cut
-- depend on the run's as-of time, so they are applied here, at no cost to the build.
-- Every signal's current state as of the as-of time.
with

signals as (

    select * from {{ ref('int_incremental__signals') }}

),

final as (

    select
        org_id,
        signal_id,
        status,
        owner,
        source_type,
        company_name,
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
