-- The SLA alert log, one row per alert and sink (operational; not an as-of view). A view: the alert step
-- records a run's alerts after dbt built the clocks they come from, so the publish reads the log then.
{{ config(materialized='view') }}

select
    org_id,
    alert_id,
    kind,
    item_type,
    item_id,
    metric,
    started_at,
    breached_at,
    created_at,
    delivered_at,
    sink,
    delivery_status,
    attempts,
    last_error,
    alert_status
from {{ ref('stg_control__alerts') }}
order by org_id, created_at, alert_id, sink
