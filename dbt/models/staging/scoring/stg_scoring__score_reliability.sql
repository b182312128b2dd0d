-- The scoring step's `score_reliability` rows (dagster_project/scoring/), typed.
with

source as (

    select * from {{ source('scoring', 'score_reliability') }}

),

renamed as (

    select
        cast(org_id as varchar) as org_id,
        cast(model_version as varchar) as model_version,
        cast(bin as integer) as bin,
        cast(p_low as double) as p_low,
        cast(p_high as double) as p_high,
        cast(scores as bigint) as scores,
        cast(mean_predicted as double) as mean_predicted,
        cast(observed_win_rate as double) as observed_win_rate
    from source

)

select * from renamed
