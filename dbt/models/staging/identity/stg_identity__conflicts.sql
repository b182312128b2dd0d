-- `identity.conflicts` as the identity step wrote it, typed.
with

source as (

    select * from {{ source('identity', 'conflicts') }}

),

renamed as (

    select
        cast(org_id as varchar) as org_id,
        cast(entity_type as varchar) as entity_type,
        cast(kind as varchar) as kind,
        cast(left_id as varchar) as left_id,
        cast(right_id as varchar) as right_id,
        cast(detail as varchar) as detail

    from source

)

select * from renamed
