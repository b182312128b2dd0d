{{ config(materialized='view') }}
-- A view over its stored rows (kept incrementally by cluster): only `built_at` and the as-of cut
-- depend on the run's as-of time, so they are applied here, at no cost to the build.
-- Every candidate's current state as of the as-of time.
with

candidates as (

    select * from {{ ref('int_incremental__candidates') }}

),

final as (

    select
        org_id,
        candidate_id,
        status,
        owner,
        title,
        client_id,
        value_band,
        tags,
        signal_ids,
        pursuit_id,
        entered_state_at,
        created_at,
        last_event_at,
        {{ as_of() }} as built_at
    from candidates

)

select * from final
