-- The outbox's state per org as the apply step left it (measured on the run's clock), typed.
with

source as (

    select * from {{ source('control', 'outbox_health') }}

),

renamed as (

    select
        cast(org_id as varchar) as org_id,
        cast(pending as bigint) as pending,
        cast(retrying as bigint) as retrying,
        cast(oldest_pending_age_s as double) as oldest_pending_age_s,
        cast(dead_lettered as bigint) as dead_lettered,
        cast(processed_last_hour as bigint) as processed_last_hour
    from source

)

select * from renamed
