{{ config(materialized='view') }}
-- A view over its stored rows (kept incrementally by cluster): only `built_at` and the as-of cut
-- depend on the run's as-of time, so they are applied here, at no cost to the build.
-- Every pursuit's current state as of the as-of time.
with

pursuits as (

    select * from {{ ref('int_incremental__pursuits') }}

),

final as (

    select
        org_id,
        pursuit_id,
        candidate_id,
        stage,
        owner,
        capture_lead,
        client_id,
        due_date,
        forecast_value_usd,
        compliance_score,
        pink_checklist,
        pink_missing,
        pink_completion_pct,
        red_checklist,
        red_missing,
        red_completion_pct,
        proposals_sent,
        first_proposal_sent_at,
        latest_proposal_id,
        latest_proposal_version,
        outcome,
        reason_code,
        reason,
        missing_reason,
        entered_state_at,
        created_at,
        closed_at,
        last_event_at,
        {{ as_of() }} as built_at
    from pursuits

)

select * from final
