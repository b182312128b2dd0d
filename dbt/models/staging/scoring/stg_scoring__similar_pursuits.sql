-- The scoring step's `similar_pursuits` rows (dagster_project/scoring/), typed.
with

source as (

    select * from {{ source('scoring', 'similar_pursuits') }}

),

renamed as (

    select
        cast(org_id as varchar) as org_id,
        cast(pursuit_id as varchar) as pursuit_id,
        cast(similar_rank as integer) as similar_rank,
        cast(similar_pursuit_id as varchar) as similar_pursuit_id,
        cast(same_client as boolean) as same_client,
        cast(same_industry as boolean) as same_industry,
        cast(same_value_band as boolean) as same_value_band,
        cast(outcome as varchar) as outcome,
        cast(closed_at as timestamp with time zone) as closed_at
    from source

)

select * from renamed
