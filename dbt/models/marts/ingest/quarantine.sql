-- Bad input records. An operational log: every row, whatever the as-of time.
with

quarantine as (

    select * from {{ ref('stg_workstream__quarantine') }}

),

final as (

    select
        file,
        line,
        reason,
        detail,
        raw,
        org_id,
        event_id,
        quarantined_at,
        content_hash
    from quarantine

)

select * from final
