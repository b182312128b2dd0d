-- The ingest ledger split by org. An operational log: not filtered by the as-of time.
with

source as (

    select * from {{ source('raw', 'ingest_ledger_orgs') }}

),

renamed as (

    select
        ---------- ids
        cast(content_hash as varchar) as content_hash,
        cast(file as varchar) as file,
        cast(org_id as varchar) as org_id,

        ---------- counts
        cast(lines as bigint) as lines,
        cast(accepted as bigint) as accepted,
        cast(duplicates as bigint) as duplicates,
        cast(quarantined as bigint) as quarantined

    from source

)

select * from renamed
