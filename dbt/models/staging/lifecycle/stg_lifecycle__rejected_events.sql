-- Events that broke a lifecycle rule (rejected, or warned and applied anyway), as of the as-of time.
with

source as (

    select * from {{ source('core', 'rejected_events') }}

),

renamed as (

    select
        ---------- ids
        cast(org_id as varchar) as org_id,
        cast(event_id as varchar) as event_id,
        cast(event_name as varchar) as event_name,
        cast(entity_type as varchar) as entity_type,
        cast(entity_id as varchar) as entity_id,

        ---------- verdict
        cast(rule as varchar) as rule,
        cast(detail as varchar) as detail,
        cast(outcome as varchar) as outcome,

        ---------- timestamps
        cast(occurred_at as timestamptz) as occurred_at,

        ---------- the apply's cluster (incremental models rebuild by it)
        cast(cluster_id as varchar) as cluster_id

    from source

)

select * from renamed
