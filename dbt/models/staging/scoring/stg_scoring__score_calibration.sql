-- The scoring step's `score_calibration` rows (dagster_project/scoring/), typed.
with

source as (

    select * from {{ source('scoring', 'score_calibration') }}

),

renamed as (

    select
        cast(org_id as varchar) as org_id,
        cast(model_version as varchar) as model_version,
        cast(scorer as varchar) as scorer,
        cast(brier_model as double) as brier_model,
        cast(brier_base_rate as double) as brier_base_rate,
        cast(base_rate as double) as base_rate,
        cast(n_train as bigint) as n_train,
        cast(n_holdout as bigint) as n_holdout,
        cast(n_closed as bigint) as n_closed
    from source

)

select * from renamed
