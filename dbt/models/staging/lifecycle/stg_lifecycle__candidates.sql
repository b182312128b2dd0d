-- Current state of every candidate as of the as-of time (the apply step already cut events at as_of).
with

source as (

    select * from {{ source('core', 'candidates') }}

),

renamed as (

    select
        ---------- ids
        cast(org_id as varchar) as org_id,
        cast(candidate_id as varchar) as candidate_id,
        cast(client_id as varchar) as client_id,
        cast(pursuit_id as varchar) as pursuit_id,

        ---------- state
        cast(status as varchar) as status,
        cast(owner as varchar) as owner,
        cast(title as varchar) as title,
        cast(value_band as varchar) as value_band,
        cast(tags as varchar[]) as tags,
        cast(signal_ids as varchar[]) as signal_ids,

        ---------- timestamps
        cast(entered_state_at as timestamptz) as entered_state_at,
        cast(created_at as timestamptz) as created_at,
        cast(last_event_at as timestamptz) as last_event_at,

        ---------- the apply's cluster (incremental models rebuild by it)
        cast(cluster_id as varchar) as cluster_id

    from source

)

select * from renamed
