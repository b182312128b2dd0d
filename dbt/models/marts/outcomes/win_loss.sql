-- Closed pursuits per org, outcome (won / lost) and reason code ('missing' when none was given).
with

pursuits as (

    select org_id, pursuit_id, outcome, reason_code, forecast_value_usd, created_at, closed_at
    from {{ ref('stg_lifecycle__pursuits') }}
    where outcome in ('won', 'lost')

),

measured as (

    select
        org_id,
        outcome,
        coalesce(reason_code, 'missing') as reason_code,
        forecast_value_usd,
        cast(date_diff('microsecond', created_at, closed_at) as double) / 86400000000.0 as days_to_close
    from pursuits

),

final as (

    select
        org_id,
        outcome,
        reason_code,
        count(*) as pursuits,
        cast(coalesce(sum(forecast_value_usd), 0) as double) as value_usd,
        cast(quantile_cont(days_to_close, 0.5) as double) as median_days_to_close,
        {{ as_of() }} as built_at
    from measured
    group by org_id, outcome, reason_code

)

select * from final
