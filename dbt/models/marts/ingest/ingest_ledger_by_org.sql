-- The ingest ledger split by org, each row with its file's format, status and ingest time (properties of
-- the file, so an org's view of a file it shares with other orgs still shows them). An operational log:
-- every row, whatever the as-of time.
with

ledger_orgs as (

    select * from {{ ref('stg_workstream__ingest_ledger_orgs') }}

),

ledger as (

    select * from {{ ref('stg_workstream__ingest_ledger') }}

),

final as (

    select
        ledger_orgs.content_hash,
        ledger_orgs.file,
        ledger_orgs.org_id,
        ledger_orgs.lines,
        ledger_orgs.accepted,
        ledger_orgs.duplicates,
        ledger_orgs.quarantined,
        ledger.format,
        ledger.status,
        ledger.ingested_at
    from ledger_orgs
    left join ledger using (content_hash)

)

select * from final
