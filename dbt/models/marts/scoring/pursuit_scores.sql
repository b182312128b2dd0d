-- Win scores of the open pursuits as of the as-of time (dagster_project/scoring/, docs/scoring.md): only
-- pursuits still open in the marts, so the grain is exactly one row per open pursuit.
with

scores as (

    select * from {{ ref('stg_scoring__pursuit_scores') }}

),

open_pursuits as (

    select org_id, pursuit_id from {{ ref('stg_lifecycle__pursuits') }} where outcome is null

),

final as (

    select
        scores.org_id,
        scores.pursuit_id,
        scores.win_probability,
        scores.model_version,
        scores.why,
        scores.stage_contribution,
        scores.age_in_stage_contribution,
        scores.checklist_contribution,
        scores.sla_record_contribution,
        scores.engagement_recency_contribution,
        scores.value_band_contribution,
        scores.client_history_contribution,
        scores.memory_contribution,
        scores.lead_source_contribution
    from scores
    inner join open_pursuits using (org_id, pursuit_id)

)

select * from final
