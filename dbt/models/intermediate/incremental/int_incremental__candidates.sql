-- The stored rows of the `candidates` mart, kept by cluster: a build appends the rows of the clusters the
-- apply wrote since the last one (dbt/macros/incremental.sql), a full refresh all of them.
-- depends_on: {{ ref('stg_lifecycle__cluster_changes') }}
with

source_rows as (

    select * from {{ ref('stg_lifecycle__candidates') }}

),

final as (

    select
        org_id,
        candidate_id,
        status,
        owner,
        title,
        client_id,
        value_band,
        tags,
        signal_ids,
        pursuit_id,
        entered_state_at,
        created_at,
        last_event_at,
        cluster_id
    from source_rows
    {% if is_incremental() %}
    where {{ in_changed_clusters('source_rows') }}
    {% endif %}

)

select * from final
