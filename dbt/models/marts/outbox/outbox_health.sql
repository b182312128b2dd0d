-- The outbox per org as the run's apply left it (operational, on the run's clock; not an as-of view).
select
    org_id,
    pending,
    retrying,
    oldest_pending_age_s,
    dead_lettered,
    processed_last_hour
from {{ ref('stg_control__outbox_health') }}
order by org_id
