-- One row per processed input file. An operational log: every row, whatever the as-of time.
with

ledger as (

    select * from {{ ref('stg_workstream__ingest_ledger') }}

),

final as (

    select
        file,
        content_hash,
        format,
        lines,
        accepted,
        duplicates,
        quarantined,
        org_id,
        status,
        ingested_at
    from ledger

)

select * from final
