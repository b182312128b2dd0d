{{ config(materialized='view') }}
-- A view over its stored rows (kept incrementally by cluster): only `built_at` and the as-of cut
-- depend on the run's as-of time, so they are applied here, at no cost to the build.
-- Every event that broke a lifecycle rule as of the as-of time: rejected, or warned and applied anyway.
with

rejected_events as (

    select * from {{ ref('int_incremental__rejected_events') }}

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
