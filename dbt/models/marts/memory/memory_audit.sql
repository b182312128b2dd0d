{{ config(materialized='view') }}
-- A view over its stored rows (kept incrementally by cluster): only `built_at` and the as-of cut
-- depend on the run's as-of time, so they are applied here, at no cost to the build.
-- The memory governance trail as of the as-of time T: every applied correction and every redaction with
-- occurred_at <= T (who, when, why and content hashes; never content). Redactions still erase at every as-of (the
-- atoms are gone from core), but a redaction after T is not yet part of the trail shown at T.
with

audit as (

    select * from {{ ref('int_incremental__memory_audit') }}
    where occurred_at <= {{ as_of() }}

),

final as (

    select
        org_id,
        audit_id,
        action,
        atom_id,
        entity_type,
        entity_id,
        actor,
        occurred_at,
        reason,
        content_hash,
        old_content_hash,
        new_content_hash,
        version,
        {{ as_of() }} as built_at
    from audit

)

select * from final
