-- `identity.links` as the identity step wrote it, typed.
with

source as (

    select * from {{ source('identity', 'links') }}

),

renamed as (

    select
        cast(org_id as varchar) as org_id,
        cast(entity_type as varchar) as entity_type,
        cast(canonical_id as varchar) as canonical_id,
        cast(record_type as varchar) as record_type,
        cast(record_id as varchar) as record_id,
        cast(source_system as varchar) as source_system,
        cast(source_id as varchar) as source_id,
        cast(match_rule as varchar) as match_rule,
        cast(match_probability as double) as match_probability,
        cast(model_version as varchar) as model_version,
        cast(model_parameters as varchar) as model_parameters

    from source

)

select * from renamed
