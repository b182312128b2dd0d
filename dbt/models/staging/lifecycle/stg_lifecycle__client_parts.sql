-- What each cluster knows about a client; several rows per client are possible (the clients mart merges them).
with

source as (

    select * from {{ source('core', 'client_parts') }}

),

renamed as (

    select
        ---------- ids
        cast(org_id as varchar) as org_id,
        cast(client_id as varchar) as client_id,

        ---------- fields
        cast(name as varchar) as name,
        cast(domain as varchar) as domain,
        cast(industry as varchar) as industry,
        cast(source_system as varchar) as source_system,
        cast(source_id as varchar) as source_id,

        ---------- timestamps
        cast(created_at as timestamptz) as created_at,
        cast(last_event_at as timestamptz) as last_event_at

    from source

)

select * from renamed
