-- The accepted event log as known at the as-of time: only events with occurred_at <= as_of.
with

source as (

    select * from {{ source('raw', 'events') }}

),

renamed as (

    select
        ---------- ids
        cast(org_id as varchar) as org_id,
        cast(event_id as varchar) as event_id,

        ---------- event
        cast(event_name as varchar) as event_name,
        cast(entity_type as varchar) as entity_type,
        cast(entity_id as varchar) as entity_id,
        cast(actor as varchar) as actor,
        cast(payload as json) as payload,

        ---------- timestamps
        cast(occurred_at as timestamptz) as occurred_at,
        cast(ingested_at as timestamptz) as ingested_at,

        ---------- lineage
        cast(content_hash as varchar) as content_hash,
        cast(source_file as varchar) as source_file,
        cast(source_line as bigint) as source_line

    from source
    where occurred_at <= {{ as_of() }}

)

select * from renamed
