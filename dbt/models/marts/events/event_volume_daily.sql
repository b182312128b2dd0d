-- Daily event counts per org, event name and entity type, so dashboards never scan the event log.
with

events as (

    select * from {{ ref('stg_workstream__events') }}

),

daily as (

    select
        org_id,
        cast(timezone('UTC', occurred_at) as date) as event_date,
        event_name,
        entity_type,
        count(*) as events
    from events
    group by all

),

final as (

    select
        org_id,
        event_date,
        event_name,
        entity_type,
        events,
        {{ as_of() }} as built_at
    from daily

)

select * from final
