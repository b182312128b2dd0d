-- Current state of every pursuit as of the as-of time (the apply step already cut events at as_of).
with

source as (

    select * from {{ source('core', 'pursuits') }}

),

renamed as (

    select
        ---------- ids
        cast(org_id as varchar) as org_id,
        cast(pursuit_id as varchar) as pursuit_id,
        cast(candidate_id as varchar) as candidate_id,
        cast(client_id as varchar) as client_id,

        ---------- state
        cast(stage as varchar) as stage,
        cast(owner as varchar) as owner,
        cast(capture_lead as varchar) as capture_lead,
        cast(due_date as date) as due_date,
        cast(forecast_value_usd as double) as forecast_value_usd,
        cast(compliance_score as double) as compliance_score,

        ---------- checklists
        cast(pink_checklist as json) as pink_checklist,
        cast(pink_missing as varchar[]) as pink_missing,
        cast(pink_completion_pct as double) as pink_completion_pct,
        cast(red_checklist as json) as red_checklist,
        cast(red_missing as varchar[]) as red_missing,
        cast(red_completion_pct as double) as red_completion_pct,

        ---------- proposals
        cast(proposals_sent as integer) as proposals_sent,
        cast(first_proposal_sent_at as timestamptz) as first_proposal_sent_at,
        cast(latest_proposal_id as varchar) as latest_proposal_id,
        cast(latest_proposal_version as integer) as latest_proposal_version,

        ---------- outcome
        cast(outcome as varchar) as outcome,
        cast(reason_code as varchar) as reason_code,
        cast(reason as varchar) as reason,
        cast(missing_reason as boolean) as missing_reason,

        ---------- timestamps
        cast(entered_state_at as timestamptz) as entered_state_at,
        cast(created_at as timestamptz) as created_at,
        cast(closed_at as timestamptz) as closed_at,
        cast(last_event_at as timestamptz) as last_event_at,

        ---------- the apply's cluster (incremental models rebuild by it)
        cast(cluster_id as varchar) as cluster_id

    from source

)

select * from renamed
