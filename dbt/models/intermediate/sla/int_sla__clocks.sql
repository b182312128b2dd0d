-- One SLA clock per (org, item, metric), as of the as-of time T (the core tables are already cut at T; stops are
-- still bounded by T here). Elapsed time, not calendar boundaries: hours = microseconds / 3.6e9.
--   triage   (signal):  starts at signal creation; stops at the earliest first touch, dismissal or link.
--   proposal (pursuit): starts at the pursuit's creation (the promotion); stops at its first transition into
--                       submit or lost.
--   response (pursuit): starts at the first proposal sent; stops at the first transition into won or lost at or
--                       after that start (no clock when the pursuit had already closed before it).
-- The threshold is the one in force when the clock started (effective_from <= started_at < effective_to, so a
-- config change at the same instant applies); the at-risk fraction is the one in force at T.
with

signals as (

    select org_id, signal_id, created_at, first_touched_at, dismissed_at, linked_at
    from {{ ref('stg_lifecycle__signals') }}

),

pursuits as (

    select org_id, pursuit_id, created_at, first_proposal_sent_at, closed_at
    from {{ ref('stg_lifecycle__pursuits') }}

),

pursuit_transitions as (

    select org_id, entity_id as pursuit_id, to_state, occurred_at
    from {{ ref('stg_lifecycle__transitions') }}
    where entity_type = 'pursuit'
        and to_state in ('submit', 'won', 'lost')
        and occurred_at <= {{ as_of() }}

),

config as (

    select org_id, key, value, effective_from, effective_to
    from {{ ref('stg_lifecycle__config_registry') }}
    where key in (
        'sla.triage.threshold_hours',
        'sla.proposal.threshold_hours',
        'sla.response.threshold_hours',
        'sla.at_risk_fraction'
    )

),

triage_clocks as (

    select
        org_id,
        'signal' as item_type,
        signal_id as item_id,
        'triage' as metric,
        created_at as started_at,
        -- least() skips nulls; stops after T are not known at T
        case
            when least(first_touched_at, dismissed_at, linked_at) <= {{ as_of() }}
                then least(first_touched_at, dismissed_at, linked_at)
        end as stopped_at
    from signals

),

proposal_clocks as (

    select
        pursuits.org_id,
        'pursuit' as item_type,
        pursuits.pursuit_id as item_id,
        'proposal' as metric,
        pursuits.created_at as started_at,
        min(pursuit_transitions.occurred_at) as stopped_at
    from pursuits
    left join pursuit_transitions
        on pursuit_transitions.org_id = pursuits.org_id
        and pursuit_transitions.pursuit_id = pursuits.pursuit_id
        and pursuit_transitions.to_state in ('submit', 'lost')
    group by pursuits.org_id, pursuits.pursuit_id, pursuits.created_at

),

response_clocks as (

    select
        pursuits.org_id,
        'pursuit' as item_type,
        pursuits.pursuit_id as item_id,
        'response' as metric,
        pursuits.first_proposal_sent_at as started_at,
        min(pursuit_transitions.occurred_at) as stopped_at
    from pursuits
    left join pursuit_transitions
        on pursuit_transitions.org_id = pursuits.org_id
        and pursuit_transitions.pursuit_id = pursuits.pursuit_id
        and pursuit_transitions.to_state in ('won', 'lost')
        and pursuit_transitions.occurred_at >= pursuits.first_proposal_sent_at
    where pursuits.first_proposal_sent_at is not null
        and pursuits.first_proposal_sent_at <= {{ as_of() }}
        -- a proposal sent after the pursuit closed awaits no response: no clock
        and (pursuits.closed_at is null or pursuits.closed_at >= pursuits.first_proposal_sent_at)
    group by pursuits.org_id, pursuits.pursuit_id, pursuits.first_proposal_sent_at

),

clocks as (

    select * from triage_clocks
    union all
    select * from proposal_clocks
    union all
    select * from response_clocks

),

with_threshold as (

    select
        clocks.org_id,
        clocks.item_type,
        clocks.item_id,
        clocks.metric,
        clocks.started_at,
        cast(config.value as double) as threshold_hours,
        clocks.stopped_at
    from clocks
    left join config
        on config.org_id = clocks.org_id
        and config.key = 'sla.' || clocks.metric || '.threshold_hours'
        and coalesce(config.effective_from <= clocks.started_at, true)
        and coalesce(config.effective_to > clocks.started_at, true)

),

at_risk_fraction as (

    select org_id, cast(value as double) as at_risk_fraction
    from config
    where key = 'sla.at_risk_fraction'
        and coalesce(effective_from <= {{ as_of() }}, true)
        and coalesce(effective_to > {{ as_of() }}, true)

),

measured as (

    select
        with_threshold.*,
        with_threshold.started_at
            + to_microseconds(cast(round(with_threshold.threshold_hours * 3600000000) as bigint)) as deadline_at,
        cast(date_diff('microsecond', with_threshold.started_at, coalesce(with_threshold.stopped_at, {{ as_of() }}))
            as double) / 3600000000.0 as elapsed_hours,
        at_risk_fraction.at_risk_fraction
    from with_threshold
    left join at_risk_fraction
        on at_risk_fraction.org_id = with_threshold.org_id

),

classified as (

    select
        org_id,
        item_type,
        item_id,
        metric,
        started_at,
        threshold_hours,
        deadline_at,
        stopped_at,
        elapsed_hours,
        case
            when stopped_at is not null and stopped_at <= deadline_at then 'met'
            when stopped_at is not null then 'breached_resolved'
            when {{ as_of() }} > deadline_at then 'breached_open'
            when elapsed_hours >= at_risk_fraction * threshold_hours then 'at_risk'
            else 'running'
        end as status
    from measured

),

final as (

    select
        *,
        stopped_at is not null or {{ as_of() }} > deadline_at as is_eligible,
        status in ('breached_resolved', 'breached_open') as is_breached
    from classified

)

select * from final
