-- Current state of every signal as of the as-of time (the apply step already cut events at as_of).
with

source as (

    select * from {{ source('core', 'signals') }}

),

renamed as (

    select
        ---------- ids
        cast(org_id as varchar) as org_id,
        cast(signal_id as varchar) as signal_id,

        ---------- state
        cast(status as varchar) as status,
        cast(owner as varchar) as owner,
        cast(source_type as varchar) as source_type,
        cast(linked_candidate_id as varchar) as linked_candidate_id,
        cast(linked_candidate_ids as varchar[]) as linked_candidate_ids,

        ---------- timestamps
        cast(created_at as timestamptz) as created_at,
        cast(first_touched_at as timestamptz) as first_touched_at,
        cast(dismissed_at as timestamptz) as dismissed_at,
        cast(linked_at as timestamptz) as linked_at,
        cast(entered_state_at as timestamptz) as entered_state_at,
        cast(last_event_at as timestamptz) as last_event_at,

        ---------- the apply's cluster (incremental models rebuild by it)
        cast(cluster_id as varchar) as cluster_id

    from source

)

select * from renamed
