-- Which clusters each apply write replaced, by write number: what incremental models rebuild.
with

source as (

    select * from {{ source('core', 'cluster_changes') }}

),

renamed as (

    select
        cast(org_id as varchar) as org_id,
        cast(cluster_id as varchar) as cluster_id,
        cast(seq as bigint) as seq
    from source

)

select * from renamed
