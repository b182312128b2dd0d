-- The stored rows of the `rejected_events` mart, kept by cluster: a build appends the rows of the clusters the
-- apply wrote since the last one (dbt/macros/incremental.sql), a full refresh all of them.
-- depends_on: {{ ref('stg_lifecycle__cluster_changes') }}
with

source_rows as (

    select * from {{ ref('stg_lifecycle__rejected_events') }}

),

final as (

    select
        org_id,
        event_id,
        event_name,
        entity_type,
        entity_id,
        occurred_at,
        rule,
        detail,
        outcome,
        cluster_id
    from source_rows
    {% if is_incremental() %}
    where {{ in_changed_clusters('source_rows') }}
    {% endif %}

)

select * from final
