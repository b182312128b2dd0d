{{ config(materialized='view') }}
-- A view over its stored rows (kept incrementally by cluster): only `built_at` and the as-of cut
-- depend on the run's as-of time, so they are applied here, at no cost to the build.
-- First entry of every funnel item into every stage it reached, as of the as-of time: the rows that
-- funnel_velocity counts, published so a period's entries can be counted by the day they happened.
with

-- The upstream model is already as-of filtered; the cut-off is repeated so this model is correct on its own.
stage_entries as (

    select org_id, item_type, item_id, stage, first_entered_at
    from {{ ref('int_incremental__funnel_stage_entries') }}
    where first_entered_at <= {{ as_of() }}

),

final as (

    select
        org_id,
        item_type,
        item_id,
        stage,
        first_entered_at,
        {{ as_of() }} as built_at
    from stage_entries

)

select * from final
