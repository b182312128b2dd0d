-- `identity.erasures` as the erasure step wrote it, typed: hashes only.
with

source as (

    select * from {{ source('identity', 'erasures') }}

),

renamed as (

    select
        cast(org_id as varchar) as org_id,
        cast(audit_id as varchar) as audit_id,
        cast(contact_id as varchar) as contact_id,
        cast(actor as varchar) as actor,
        cast(occurred_at as timestamptz) as occurred_at,
        cast(reason_hash as varchar) as reason_hash,
        cast(key_hashes as varchar[]) as key_hashes,
        cast(value_hashes as varchar[]) as value_hashes,
        cast(events_scrubbed as integer) as events_scrubbed,
        cast(quarantine_rows_scrubbed as integer) as quarantine_rows_scrubbed,
        cast(scrubbed_at as timestamptz) as scrubbed_at

    from source

)

select * from renamed
