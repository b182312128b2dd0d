-- Per org, what went with winning: attributes known before the outcome whose win-rate lift has a 95 % interval excluding 1, seen on at least 20 closed pursuits with and 20 without (dagster_project/scoring/, docs/scoring.md).
with

rows as (

    select * from {{ ref('stg_scoring__win_patterns') }}

),

final as (

    select
        org_id,
        pattern,
        support_with,
        support_without,
        win_rate_with,
        win_rate_without,
        lift,
        lift_ci_low,
        lift_ci_high
    from rows

)

select * from final
