-- The stored rows of the `transitions` mart, kept by cluster: a build appends the rows of the clusters the
-- apply wrote since the last one (dbt/macros/incremental.sql), a full refresh all of them.
-- depends_on: {{ ref('stg_lifecycle__cluster_changes') }}
with

source_rows as (

    select * from {{ ref('stg_lifecycle__transitions') }}

),

final as (

    select
        org_id,
        entity_type,
        entity_id,
        from_state,
        to_state,
        occurred_at,
        event_id,
        warned,
        cluster_id
    from source_rows
    {% if is_incremental() %}
    where {{ in_changed_clusters('source_rows') }}
    {% endif %}

)

select * from final
