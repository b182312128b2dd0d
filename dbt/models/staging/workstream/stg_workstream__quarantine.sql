-- Bad input records. An operational log: not filtered by the as-of time.
with

source as (

    select * from {{ source('raw', 'quarantine') }}

),

renamed as (

    select
        ---------- ids
        cast(content_hash as varchar) as content_hash,
        cast(file as varchar) as file,
        cast(line as bigint) as line,
        cast(org_id as varchar) as org_id,
        cast(event_id as varchar) as event_id,

        ---------- why
        cast(reason as varchar) as reason,
        cast(detail as varchar) as detail,
        cast(raw as varchar) as raw,

        ---------- timestamps
        cast(quarantined_at as timestamptz) as quarantined_at

    from source

)

select * from renamed
