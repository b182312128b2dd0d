-- The scoring step's `win_patterns` rows (dagster_project/scoring/), typed.
with

source as (

    select * from {{ source('scoring', 'win_patterns') }}

),

renamed as (

    select
        cast(org_id as varchar) as org_id,
        cast(pattern as varchar) as pattern,
        cast(attribute as varchar) as attribute,
        cast(support_with as bigint) as support_with,
        cast(support_without as bigint) as support_without,
        cast(win_rate_with as double) as win_rate_with,
        cast(win_rate_without as double) as win_rate_without,
        cast(lift as double) as lift,
        cast(lift_ci_low as double) as lift_ci_low,
        cast(lift_ci_high as double) as lift_ci_high
    from source

)

select * from renamed
