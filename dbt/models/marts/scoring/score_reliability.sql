-- Reliability bins of each org's scorer on its held-out pursuits: predicted against observed win rate, per bin of predicted probability that has any pursuit (dagster_project/scoring/, docs/scoring.md).
with

rows as (

    select * from {{ ref('stg_scoring__score_reliability') }}

),

final as (

    select
        org_id,
        model_version,
        bin,
        p_low,
        p_high,
        scores,
        mean_predicted,
        observed_win_rate
    from rows

)

select * from final
