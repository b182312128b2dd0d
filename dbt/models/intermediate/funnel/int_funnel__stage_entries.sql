-- First entry of every funnel item into every stage it reached, derived from the raw events.
-- The lifecycle engine will replace this with applied transitions; keep the interface
-- (org_id, item_type, item_id, stage, first_entered_at).
with

events as (

    select org_id, event_name, entity_id, occurred_at, payload
    from {{ ref('stg_workstream__events') }}

),

signals_created as (

    select org_id, 'signal' as item_type, entity_id as item_id, 'signal' as stage, occurred_at
    from events
    where event_name = 'signal.created'

),

-- A signal reaches `candidate` when a candidate links it through payload.signal_ids.
signal_links as (

    select
        org_id,
        'signal' as item_type,
        unnest(json_extract_string(payload, '$.signal_ids[*]')) as item_id,
        'candidate' as stage,
        occurred_at
    from events
    where event_name in ('candidate.created', 'candidate.updated')

),

signals_linked as (

    select signal_links.*
    from signal_links
    where exists (
        select 1
        from signals_created
        where signals_created.org_id = signal_links.org_id
            and signals_created.item_id = signal_links.item_id
    )

),

candidates_created as (

    select org_id, 'candidate' as item_type, entity_id as item_id, 'candidate' as stage, occurred_at
    from events
    where event_name = 'candidate.created'

),

candidates_promoted as (

    select org_id, 'candidate' as item_type, entity_id as item_id, 'promoted' as stage, occurred_at
    from events
    where event_name = 'candidate.promoted'

),

-- Promotion creates the pursuit (payload.pursuit_id) in `qual`.
pursuits_created as (

    select
        org_id,
        'pursuit' as item_type,
        json_extract_string(payload, '$.pursuit_id') as item_id,
        'qual' as stage,
        occurred_at
    from events
    where event_name = 'candidate.promoted'

),

pursuit_stage_changes as (

    select org_id, 'pursuit' as item_type, entity_id as item_id, json_extract_string(payload, '$.to') as stage, occurred_at
    from events
    where event_name = 'pursuit.stage_changed'
        and json_extract_string(payload, '$.to') in ('qual', 'pink', 'red', 'submit', 'won', 'lost')

),

stage_entries as (

    select * from signals_created
    union all
    select * from signals_linked
    union all
    select * from candidates_created
    union all
    select * from candidates_promoted
    union all
    select * from pursuits_created
    union all
    select * from pursuit_stage_changes

),

first_entries as (

    select
        org_id,
        item_type,
        item_id,
        stage,
        min(occurred_at) as first_entered_at
    from stage_entries
    where item_id is not null
    group by org_id, item_type, item_id, stage

)

select * from first_entries
