-- `identity.pairs` as the identity step wrote it, typed.
with

source as (

    select * from {{ source('identity', 'pairs') }}

),

renamed as (

    select
        cast(org_id as varchar) as org_id,
        cast(entity_type as varchar) as entity_type,
        cast(left_id as varchar) as left_id,
        cast(right_id as varchar) as right_id,
        cast(match_probability as double) as match_probability,
        cast(match_weight as double) as match_weight,
        cast(explanation as json) as explanation,
        cast(linked as boolean) as linked,
        cast(model_version as varchar) as model_version

    from source

)

select * from renamed
