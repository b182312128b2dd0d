-- The scoring step's `pursuit_scores` rows (dagster_project/scoring/), typed.
with

source as (

    select * from {{ source('scoring', 'pursuit_scores') }}

),

renamed as (

    select
        cast(org_id as varchar) as org_id,
        cast(pursuit_id as varchar) as pursuit_id,
        cast(win_probability as double) as win_probability,
        cast(model_version as varchar) as model_version,
        cast(why as varchar) as why,
        cast(stage_contribution as double) as stage_contribution,
        cast(age_in_stage_contribution as double) as age_in_stage_contribution,
        cast(checklist_contribution as double) as checklist_contribution,
        cast(sla_record_contribution as double) as sla_record_contribution,
        cast(engagement_recency_contribution as double) as engagement_recency_contribution,
        cast(value_band_contribution as double) as value_band_contribution,
        cast(client_history_contribution as double) as client_history_contribution,
        cast(memory_contribution as double) as memory_contribution,
        cast(lead_source_contribution as double) as lead_source_contribution
    from source

)

select * from renamed
