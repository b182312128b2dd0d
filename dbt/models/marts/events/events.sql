{{ config(materialized='view') }}
-- A view, not a table: the event log is large and the publisher exports it to Parquet.
with

events as (

    select * from {{ ref('stg_workstream__events') }}

),

final as (

    select
        org_id,
        event_id,
        occurred_at,
        event_name,
        entity_type,
        entity_id,
        actor,
        payload,
        ingested_at,
        source_file,
        source_line,
        content_hash
    from events

)

select * from final
