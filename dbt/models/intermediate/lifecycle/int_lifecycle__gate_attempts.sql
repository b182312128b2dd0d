-- One row per pursuit stage change that needed a quality gate (org, gate, event): passed or failed, and the
-- checklist items it was missing. Built from applied transitions and gate rejections, already as of the
-- as-of time (a `won` rejected for `gate:no_sent_proposal` is a failed red attempt, as its warned twin is).
-- A warned event is both a warned transition and a `rejected_events` row (outcome `warned`):
-- the full outer join on (org, gate, event) counts it once.
with

transitions as (

    select org_id, event_id, entity_id, from_state, to_state, occurred_at, warned
    from {{ ref('stg_lifecycle__transitions') }}
    where entity_type = 'pursuit'

),

rejected_events as (

    select org_id, event_id, entity_id, occurred_at, rule, detail
    from {{ ref('stg_lifecycle__rejected_events') }}
    where rule in ('gate:pink_incomplete', 'gate:red_incomplete', 'gate:no_sent_proposal')

),

-- Entering `submit` needs the pink gate; entering `won` (normally from `submit`) and `submit`→`lost` need the
-- red gate. Applied without a warning = passed; warned (applied anyway under gate_mode = warn) = failed.
transition_attempts as (

    select
        org_id,
        case
            when to_state = 'submit' then 'pink'
            when to_state = 'won' or (to_state = 'lost' and from_state = 'submit') then 'red'
        end as gate,
        event_id,
        entity_id as pursuit_id,
        occurred_at,
        not warned as passed
    from transitions
    where to_state in ('submit', 'won', 'lost')

),

-- `detail` reads "<gate> checklist incomplete: item_a, item_b" (a red failure on `won` may end in
-- "; no sent proposal"): the items are the comma-separated list after the first colon, up to any semicolon.
gate_failures as (

    select
        org_id,
        case rule when 'gate:pink_incomplete' then 'pink' else 'red' end as gate,
        event_id,
        entity_id as pursuit_id,
        occurred_at,
        case
            when strpos(coalesce(detail, ''), ':') > 0 then list_sort(list_distinct(list_filter(
                list_transform(
                    string_split(split_part(substr(detail, strpos(detail, ':') + 1), ';', 1), ','),
                    item -> trim(item)
                ),
                item -> item <> ''
            )))
            else []
        end as missing_items
    from rejected_events

),

attempts as (

    select
        coalesce(transition_attempts.org_id, gate_failures.org_id) as org_id,
        coalesce(transition_attempts.gate, gate_failures.gate) as gate,
        coalesce(transition_attempts.event_id, gate_failures.event_id) as event_id,
        coalesce(transition_attempts.pursuit_id, gate_failures.pursuit_id) as pursuit_id,
        coalesce(transition_attempts.occurred_at, gate_failures.occurred_at) as occurred_at,
        coalesce(transition_attempts.passed, false) and gate_failures.event_id is null as passed,
        coalesce(gate_failures.missing_items, cast([] as varchar[])) as missing_items
    from (select * from transition_attempts where gate is not null) as transition_attempts
    full outer join gate_failures
        on gate_failures.org_id = transition_attempts.org_id
        and gate_failures.gate = transition_attempts.gate
        and gate_failures.event_id = transition_attempts.event_id

)

select * from attempts
