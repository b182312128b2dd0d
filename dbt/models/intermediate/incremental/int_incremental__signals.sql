-- The stored rows of the `signals` mart, kept by cluster: a build appends the rows of the clusters the
-- apply wrote since the last one (dbt/macros/incremental.sql), a full refresh all of them.
-- depends_on: {{ ref('stg_lifecycle__cluster_changes') }}
with

source_rows as (

    select * from {{ ref('stg_lifecycle__signals') }}

),

-- The company a signal's sender named (written by the same cluster's fold as the signal itself).
senders as (

    select org_id, record_id as signal_id, company_name
    from {{ ref('stg_lifecycle__contact_records') }}
    where record_type = 'signal'

),

final as (

    select
        source_rows.org_id,
        source_rows.signal_id,
        source_rows.status,
        source_rows.owner,
        source_rows.source_type,
        senders.company_name,
        source_rows.created_at,
        source_rows.first_touched_at,
        source_rows.dismissed_at,
        source_rows.linked_at,
        source_rows.linked_candidate_id,
        source_rows.linked_candidate_ids,
        source_rows.entered_state_at,
        source_rows.last_event_at,
        source_rows.cluster_id
    from source_rows
    left join senders
        on senders.org_id = source_rows.org_id and senders.signal_id = source_rows.signal_id
    {% if is_incremental() %}
    where {{ in_changed_clusters('source_rows') }}
    {% endif %}

)

select * from final
