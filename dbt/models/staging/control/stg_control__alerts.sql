-- The SLA alert log, one row per alert and sink, typed.
with

source as (

    select * from {{ source('control', 'alerts') }}

),

renamed as (

    select
        cast(org_id as varchar) as org_id,
        cast(alert_id as varchar) as alert_id,
        cast(kind as varchar) as kind,
        cast(item_type as varchar) as item_type,
        cast(item_id as varchar) as item_id,
        cast(metric as varchar) as metric,
        cast(started_at as timestamptz) as started_at,
        cast(breached_at as timestamptz) as breached_at,
        cast(created_at as timestamptz) as created_at,
        cast(delivered_at as timestamptz) as delivered_at,
        cast(sink as varchar) as sink,
        cast(delivery_status as varchar) as delivery_status,
        cast(attempts as integer) as attempts,
        cast(last_error as varchar) as last_error,
        cast(alert_status as varchar) as alert_status
    from source

)

select * from renamed
