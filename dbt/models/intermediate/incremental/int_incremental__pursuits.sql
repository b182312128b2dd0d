-- The stored rows of the `pursuits` mart, kept by cluster: a build appends the rows of the clusters the
-- apply wrote since the last one (dbt/macros/incremental.sql), a full refresh all of them.
-- depends_on: {{ ref('stg_lifecycle__cluster_changes') }}
with

source_rows as (

    select * from {{ ref('stg_lifecycle__pursuits') }}

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
        cluster_id
    from source_rows
    {% if is_incremental() %}
    where {{ in_changed_clusters('source_rows') }}
    {% endif %}

)

select * from final
