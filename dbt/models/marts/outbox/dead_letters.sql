-- Every dead-lettered outbox item, oldest death first per org (operational; not an as-of view).
select
    org_id,
    event_id,
    event_name,
    entity_type,
    entity_id,
    occurred_at,
    attempts,
    last_error,
    dead_at
from {{ ref('stg_control__dead_letters') }}
order by org_id, dead_at, event_id
