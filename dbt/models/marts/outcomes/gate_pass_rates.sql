-- Quality-gate pass rates per org and gate (pink, red), both gates zero-filled for every org with events.
with

orgs as (

    select distinct org_id from {{ ref('stg_workstream__events') }}

),

gates as (

    select * from (values ('pink'), ('red')) as gates (gate)

),

-- The health line (`health.gate_pass_rate`) in force at the as-of time.
health_lines as (

    select org_id, cast(value as double) as health_line
    from {{ ref('stg_lifecycle__config_registry') }}
    where key = 'health.gate_pass_rate'
        and coalesce(effective_from <= {{ as_of() }}, true)
        and coalesce(effective_to > {{ as_of() }}, true)

),

attempts as (

    select org_id, gate, event_id, passed, missing_items
    from {{ ref('int_lifecycle__gate_attempts') }}

),

counted as (

    select
        org_id,
        gate,
        count(*) as attempts,
        count(*) filter (where passed) as passed
    from attempts
    group by org_id, gate

),

item_counts as (

    select
        org_id,
        gate,
        missing_item,
        count(*) as times_missing
    from attempts, unnest(missing_items) as missed (missing_item)
    where not passed
    group by org_id, gate, missing_item

),

-- The most-missed items, at most three, by how often they were missing (ties by name).
top_items as (

    select
        org_id,
        gate,
        list(missing_item order by times_missing desc, missing_item asc) as ranked_items
    from item_counts
    group by org_id, gate

),

final as (

    select
        orgs.org_id,
        gates.gate,
        cast(coalesce(counted.attempts, 0) as bigint) as attempts,
        cast(coalesce(counted.passed, 0) as bigint) as passed,
        cast(counted.passed as double) / nullif(counted.attempts, 0) as pass_rate,
        cast(coalesce(top_items.ranked_items[1:3], []) as varchar[]) as top_missing_items,
        health_lines.health_line,
        -- no attempts is not below the line
        coalesce(cast(counted.passed as double) / nullif(counted.attempts, 0) < health_lines.health_line, false)
            as below_health_line,
        {{ as_of() }} as built_at
    from orgs
    cross join gates
    left join counted
        on counted.org_id = orgs.org_id
        and counted.gate = gates.gate
    left join top_items
        on top_items.org_id = orgs.org_id
        and top_items.gate = gates.gate
    left join health_lines
        on health_lines.org_id = orgs.org_id

)

select * from final
