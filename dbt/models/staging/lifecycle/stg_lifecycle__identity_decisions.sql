-- Explicit merges and splits of contacts and clients, in event-time order.
with

source as (

    select * from {{ source('core', 'identity_decisions') }}

),

renamed as (

    select
        ---------- ids
        cast(org_id as varchar) as org_id,
        cast(entity_type as varchar) as entity_type,
        cast(entity_id as varchar) as entity_id,
        cast(other_id as varchar) as other_id,

        ---------- the decision, its event and who made it
        cast(decision as varchar) as decision,
        cast(event_id as varchar) as event_id,
        cast(occurred_at as timestamptz) as occurred_at,
        cast(actor as varchar) as actor

    from source

)

select * from renamed
