-- The ingest ledger split by org. An operational log: every row, whatever the as-of time.
with

ledger_orgs as (

    select * from {{ ref('stg_workstream__ingest_ledger_orgs') }}

),

final as (

    select
        content_hash,
        file,
        org_id,
        lines,
        accepted,
        duplicates,
        quarantined
    from ledger_orgs

)

select * from final
