-- The stored rows of the `signals` mart, kept by cluster: a build appends the rows of the clusters the
-- apply wrote since the last one (dbt/macros/incremental.sql), a full refresh all of them.
-- depends_on: {{ ref('stg_lifecycle__cluster_changes') }}
with

source_rows as (

    select * from {{ ref('stg_lifecycle__signals') }}

),

final as (

    select
        org_id,
        signal_id,
        status,
        owner,
        source_type,
        created_at,
        first_touched_at,
        dismissed_at,
        linked_at,
        linked_candidate_id,
        linked_candidate_ids,
        entered_state_at,
        last_event_at,
        cluster_id
    from source_rows
    {% if is_incremental() %}
    where {{ in_changed_clusters('source_rows') }}
    {% endif %}

)

select * from final
