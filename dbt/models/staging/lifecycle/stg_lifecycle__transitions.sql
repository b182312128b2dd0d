-- Applied state changes (creations have from_state null), as of the as-of time.
with

source as (

    select * from {{ source('core', 'transitions') }}

),

renamed as (

    select
        ---------- ids
        cast(org_id as varchar) as org_id,
        cast(event_id as varchar) as event_id,
        cast(entity_type as varchar) as entity_type,
        cast(entity_id as varchar) as entity_id,

        ---------- change
        cast(from_state as varchar) as from_state,
        cast(to_state as varchar) as to_state,
        cast(warned as boolean) as warned,

        ---------- timestamps
        cast(occurred_at as timestamptz) as occurred_at,

        ---------- the apply's cluster (incremental models rebuild by it)
        cast(cluster_id as varchar) as cluster_id

    from source

)

select * from renamed
