-- Every applied `contact.erased`: who asked, when, and the hashes of what left (never the values).
with

erasures as (

    select * from {{ ref('stg_identity__erasures') }}

),

final as (

    select
        org_id,
        audit_id,
        contact_id,
        actor,
        occurred_at,
        reason_hash,
        value_hashes,
        events_scrubbed,
        quarantine_rows_scrubbed,
        {{ as_of() }} as built_at
    from erasures

)

select * from final
