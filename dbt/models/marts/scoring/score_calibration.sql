-- One row per org and model version: how the scorer did on held-out pursuits (the time-ordered last 25 % of the org's closed pursuits), against the base rate (dagster_project/scoring/, docs/scoring.md).
with

rows as (

    select * from {{ ref('stg_scoring__score_calibration') }}

),

final as (

    select
        org_id,
        model_version,
        scorer,
        brier_model,
        brier_base_rate,
        base_rate,
        n_train,
        n_holdout,
        n_closed
    from rows

)

select * from final
