-- The memory governance trail (corrections and redactions: who, when, why, content hashes; never content), typed,
-- without the internal `cluster_id`.
with

source as (

    select * from {{ source('core', 'memory_audit') }}

),

renamed as (

    select
        ---------- ids
        cast(org_id as varchar) as org_id,
        cast(audit_id as varchar) as audit_id,
        cast(atom_id as varchar) as atom_id,
        cast(entity_type as varchar) as entity_type,
        cast(entity_id as varchar) as entity_id,

        ---------- action
        cast(action as varchar) as action,
        cast(actor as varchar) as actor,
        cast(reason as varchar) as reason,
        cast(version as integer) as version,

        ---------- hashes
        cast(content_hash as varchar) as content_hash,
        cast(old_content_hash as varchar) as old_content_hash,
        cast(new_content_hash as varchar) as new_content_hash,

        ---------- timestamps
        cast(occurred_at as timestamptz) as occurred_at,

        ---------- the apply's cluster (incremental models rebuild by it)
        cast(cluster_id as varchar) as cluster_id

    from source

)

select * from renamed
