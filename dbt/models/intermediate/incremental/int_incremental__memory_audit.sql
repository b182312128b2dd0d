-- The stored rows of the `memory_audit` mart, kept by cluster: a build appends the rows of the clusters the
-- apply wrote since the last one (dbt/macros/incremental.sql), a full refresh all of them.
-- depends_on: {{ ref('stg_lifecycle__cluster_changes') }}
with

source_rows as (

    select * from {{ ref('stg_lifecycle__memory_audit') }}

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
        cluster_id
    from source_rows
    {% if is_incremental() %}
    where {{ in_changed_clusters('source_rows') }}
    {% endif %}

)

select * from final
