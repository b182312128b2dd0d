-- Open pipeline per org and open pursuit stage (qual, pink, red, submit), zero-filled for every org with events,
-- as of the as-of time. "Aging" compares each open pursuit's time in its current stage with the org's own p75 of
-- completed stays in that stage (from applied transitions: entering the stage to the next transition out of it).
with

orgs as (

    select distinct org_id from {{ ref('stg_workstream__events') }}

),

-- The open stages in lifecycle order (reference data generated from the contract module).
stages as (

    select stage_order, stage
    from {{ ref('pursuit_stages') }}
    where is_open

),

pursuits as (

    select org_id, pursuit_id, stage, forecast_value_usd, due_date, entered_state_at
    from {{ ref('stg_lifecycle__pursuits') }}
    where stage in (select stage from stages)

),

transitions as (

    select org_id, entity_id as pursuit_id, to_state, occurred_at, event_id
    from {{ ref('stg_lifecycle__transitions') }}
    where entity_type = 'pursuit'

),

stays as (

    select
        org_id,
        to_state as stage,
        occurred_at as entered_at,
        lead(occurred_at) over (partition by org_id, pursuit_id order by occurred_at, event_id) as left_at
    from transitions

),

stage_p75 as (

    select
        org_id,
        stage,
        quantile_cont(cast(date_diff('microsecond', entered_at, left_at) as double) / 3600000000.0, 0.75)
            as p75_hours_in_stage
    from stays
    where left_at is not null
        and stage in (select stage from stages)
    group by org_id, stage

),

open_by_stage as (

    select
        pursuits.org_id,
        pursuits.stage,
        count(*) as open_pursuits,
        sum(pursuits.forecast_value_usd) as open_value_usd,
        count(*) filter (
            where cast(date_diff('microsecond', pursuits.entered_state_at, {{ as_of() }}) as double) / 3600000000.0
                > stage_p75.p75_hours_in_stage
        ) as aging_pursuits,
        count(*) filter (where pursuits.due_date < cast(timezone('UTC', {{ as_of() }}) as date)) as slipped_pursuits
    from pursuits
    left join stage_p75
        on stage_p75.org_id = pursuits.org_id
        and stage_p75.stage = pursuits.stage
    group by pursuits.org_id, pursuits.stage

),

final as (

    select
        orgs.org_id,
        stages.stage,
        stages.stage_order,
        cast(coalesce(open_by_stage.open_pursuits, 0) as bigint) as open_pursuits,
        cast(coalesce(open_by_stage.open_value_usd, 0) as double) as open_value_usd,
        cast(stage_p75.p75_hours_in_stage as double) as p75_hours_in_stage,
        cast(coalesce(open_by_stage.aging_pursuits, 0) as bigint) as aging_pursuits,
        cast(coalesce(open_by_stage.slipped_pursuits, 0) as bigint) as slipped_pursuits,
        {{ as_of() }} as built_at
    from orgs
    cross join stages
    left join stage_p75
        on stage_p75.org_id = orgs.org_id
        and stage_p75.stage = stages.stage
    left join open_by_stage
        on open_by_stage.org_id = orgs.org_id
        and open_by_stage.stage = stages.stage

)

select * from final
