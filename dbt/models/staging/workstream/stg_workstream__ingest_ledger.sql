-- One row per processed input file. An operational log: not filtered by the as-of time.
with

source as (

    select * from {{ source('raw', 'ingest_ledger') }}

),

renamed as (

    select
        ---------- ids
        cast(content_hash as varchar) as content_hash,
        cast(file as varchar) as file,
        cast(format as varchar) as format,
        cast(org_id as varchar) as org_id,
        cast(status as varchar) as status,

        ---------- counts
        cast(lines as bigint) as lines,
        cast(accepted as bigint) as accepted,
        cast(duplicates as bigint) as duplicates,
        cast(quarantined as bigint) as quarantined,

        ---------- timestamps
        cast(ingested_at as timestamptz) as ingested_at

    from source

)

select * from renamed
