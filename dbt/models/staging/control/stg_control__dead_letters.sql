-- Every dead-lettered outbox item with the name of its event, typed.
with

source as (

    select * from {{ source('control', 'dead_letters') }}

),

renamed as (

    select
        cast(org_id as varchar) as org_id,
        cast(event_id as varchar) as event_id,
        cast(event_name as varchar) as event_name,
        cast(entity_type as varchar) as entity_type,
        cast(entity_id as varchar) as entity_id,
        cast(occurred_at as timestamptz) as occurred_at,
        cast(attempts as bigint) as attempts,
        cast(last_error as varchar) as last_error,
        cast(dead_at as timestamptz) as dead_at
    from source

)

select * from renamed
