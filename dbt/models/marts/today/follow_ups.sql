-- Follow-ups as of the as-of time T: what each open item is waiting for from us, each with its why.
--   proposal_quiet    an open pursuit with a sent proposal and no event for `followup.proposal_quiet_days`
--   signal_quiet      a touched signal (answered, not yet linked or dismissed) with no event for
--                     `followup.signal_quiet_days`
--   client_preference the most relevant live preference of an open pursuit's client, shown beside the
--                     pursuit's next step (every preference of the client is taken to apply to it)
-- Quiet days are the org's config in force at T; `due_at` is when the item became due (T for a preference).
with

config_at_t as (

    select
        org_id,
        max(try_cast(value as double)) filter (where key = 'followup.proposal_quiet_days') as proposal_days,
        max(try_cast(value as double)) filter (where key = 'followup.signal_quiet_days') as signal_days
    from {{ ref('stg_lifecycle__config_registry') }}
    where key like 'followup.%'
        and coalesce(effective_from <= {{ as_of() }}, true)
        and coalesce(effective_to > {{ as_of() }}, true)
    group by org_id

),

stages as (

    select stage, stage_order, is_open from {{ ref('pursuit_stages') }}

),

open_pursuits as (

    select pursuits.*
    from {{ ref('stg_lifecycle__pursuits') }} as pursuits
    inner join stages on stages.stage = pursuits.stage and stages.is_open

),

quiet_proposals as (

    select
        pursuits.org_id,
        'proposal_quiet' as kind,
        'pursuit' as item_type,
        pursuits.pursuit_id as item_id,
        coalesce(pursuits.capture_lead, pursuits.owner) as owner,
        pursuits.last_event_at
            + to_microseconds(cast(config_at_t.proposal_days * 86400000000 as bigint)) as due_at,
        cast(null as varchar) as atom_id,
        'Proposal v' || coalesce(pursuits.latest_proposal_version, pursuits.proposals_sent)
            || ' is out and nothing has happened since ' || strftime(pursuits.last_event_at, '%Y-%m-%d')
            || ' (' || cast(floor(date_diff('hour', pursuits.last_event_at, {{ as_of() }}) / 24) as bigint)
            || ' days; follow up after ' || format('{:g}', config_at_t.proposal_days) || '): check in with the client.'
            as why
    from open_pursuits as pursuits
    inner join config_at_t on config_at_t.org_id = pursuits.org_id
    where pursuits.proposals_sent > 0
        and pursuits.last_event_at
            <= {{ as_of() }} - to_microseconds(cast(config_at_t.proposal_days * 86400000000 as bigint))

),

quiet_signals as (

    select
        signals.org_id,
        'signal_quiet' as kind,
        'signal' as item_type,
        signals.signal_id as item_id,
        signals.owner,
        signals.last_event_at
            + to_microseconds(cast(config_at_t.signal_days * 86400000000 as bigint)) as due_at,
        cast(null as varchar) as atom_id,
        'Answered this ' || coalesce(signals.source_type, 'inbound') || ' signal on '
            || strftime(signals.first_touched_at, '%Y-%m-%d') || ' and heard nothing since '
            || strftime(signals.last_event_at, '%Y-%m-%d') || ' (follow up after '
            || format('{:g}', config_at_t.signal_days) || ' days): ask again, or link or dismiss it.' as why
    from {{ ref('stg_lifecycle__signals') }} as signals
    inner join config_at_t on config_at_t.org_id = signals.org_id
    where signals.status = 'touched'
        and signals.last_event_at
            <= {{ as_of() }} - to_microseconds(cast(config_at_t.signal_days * 86400000000 as bigint))

),

preferences as (

    select
        org_id,
        client_id,
        atom_id,
        content,
        row_number() over (partition by org_id, client_id order by relevance desc, atom_id) as pick
    from {{ ref('memory_atoms') }}
    where atom_type = 'preference' and client_id is not null

),

client_preferences as (

    select
        pursuits.org_id,
        'client_preference' as kind,
        'pursuit' as item_type,
        pursuits.pursuit_id as item_id,
        coalesce(pursuits.capture_lead, pursuits.owner) as owner,
        {{ as_of() }} as due_at,
        preferences.atom_id,
        'Before ' || case when next_stage.is_open then 'the ' || next_stage.stage || ' step' else 'the decision' end
            || ', the client''s preference: "' || preferences.content || '"' as why
    from open_pursuits as pursuits
    inner join stages as current_stage on current_stage.stage = pursuits.stage
    inner join stages as next_stage on next_stage.stage_order = current_stage.stage_order + 1
    inner join preferences
        on preferences.org_id = pursuits.org_id
        and preferences.client_id = pursuits.client_id
        and preferences.pick = 1

),

unioned as (

    select * from quiet_proposals
    union all
    select * from quiet_signals
    union all
    select * from client_preferences

),

final as (

    select
        org_id,
        kind || ':' || item_type || ':' || item_id as follow_up_id,
        kind,
        item_type,
        item_id,
        owner,
        due_at,
        atom_id,
        why,
        {{ as_of() }} as built_at
    from unioned

)

select * from final
