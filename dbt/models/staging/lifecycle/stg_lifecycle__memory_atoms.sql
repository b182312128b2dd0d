-- Memory atoms captured by the apply step (not redacted; live and expired), typed, without the internal
-- `cluster_id`. Expiry and relevance move with time even when no event does, so they are judged at the as-of
-- time in the `memory_atoms` mart, not here.
with

source as (

    select * from {{ source('core', 'memory_atoms') }}

),

renamed as (

    select
        ---------- ids
        cast(org_id as varchar) as org_id,
        cast(atom_id as varchar) as atom_id,
        cast(entity_type as varchar) as entity_type,
        cast(entity_id as varchar) as entity_id,
        cast(client_id as varchar) as client_id,
        cast(event_id as varchar) as event_id,
        cast(last_audit_id as varchar) as last_audit_id,

        ---------- atom
        cast(atom_type as varchar) as atom_type,
        cast(content as varchar) as content,
        cast(content_hash as varchar) as content_hash,
        cast(version as integer) as version,
        cast(source as varchar) as source,
        cast(source_system as varchar) as source_system,
        cast(source_url as varchar) as source_url,
        cast(trust_weight as double) as trust_weight,
        cast(tags as varchar[]) as tags,
        cast(rule as varchar) as rule,
        cast(classified_by as varchar) as classified_by,
        cast(actor as varchar) as actor,

        ---------- expiry
        cast(expires_at as timestamptz) as expires_at,
        cast(expires_explicit as boolean) as expires_explicit,

        ---------- timestamps
        cast(occurred_at as timestamptz) as occurred_at,
        cast(corrected_at as timestamptz) as corrected_at

    from source

)

select * from renamed
