-- The Today panel (its score and keys: docs/configuration.md): every open candidate (new, triaged, nurture, on_hold) and
-- open pursuit (qual, pink, red, submit) per org, scored and ranked as of the as-of time T.
--   candidate score = urgency + value + stage − workload
--   pursuit score   = urgency + value + stage + compliance − workload
-- Every point value and cut-off is the org's `ranking.*` config in force at T (the `ranking` CTE); a key with no
-- registry row (e.g. candidate stage `new`) scores 0. No row cap (the UI caps).
{%- set ranking_keys = [
    'candidate_urgency.breach', 'candidate_urgency.stale', 'candidate_urgency.aging', 'candidate_urgency.fresh',
    'candidate_urgency.stale_after_hours', 'candidate_urgency.aging_after_hours',
    'candidate_value.high', 'candidate_value.med', 'candidate_value.low', 'candidate_value.none',
    'candidate_stage.triaged', 'candidate_stage.nurture', 'candidate_stage.on_hold',
    'candidate_workload.per_item',
    'pursuit_urgency.breach', 'pursuit_urgency.overdue', 'pursuit_urgency.due_soon', 'pursuit_urgency.normal',
    'pursuit_urgency.due_soon_days',
    'pursuit_value.large', 'pursuit_value.medium', 'pursuit_value.small', 'pursuit_value.other',
    'pursuit_value.large_min_usd', 'pursuit_value.medium_min_usd', 'pursuit_value.small_min_usd',
    'pursuit_stage.qual', 'pursuit_stage.pink', 'pursuit_stage.red', 'pursuit_stage.submit',
    'pursuit_compliance.high', 'pursuit_compliance.mid', 'pursuit_compliance.low', 'pursuit_compliance.none',
    'pursuit_compliance.high_min', 'pursuit_compliance.mid_min', 'pursuit_compliance.low_min',
    'pursuit_workload.per_item',
    'tier.critical_min', 'tier.high_min', 'tier.medium_min',
] %}
with

ranking_rows as (

    select org_id, substr(key, length('ranking.') + 1) as name, cast(value as double) as points
    from {{ ref('stg_lifecycle__config_registry') }}
    where key like 'ranking.%'
        and coalesce(effective_from <= {{ as_of() }}, true)
        and coalesce(effective_to > {{ as_of() }}, true)

),

-- One row per org: every ranking value in force at T, one column per key (`.` → `__`).
ranking as (

    select
        org_id,
        {%- for key in ranking_keys %}
        max(points) filter (where name = '{{ key }}') as {{ key | replace('.', '__') }}{{ ',' if not loop.last }}
        {%- endfor %}
    from ranking_rows
    group by org_id

),

candidates as (

    select * from {{ ref('stg_lifecycle__candidates') }}

),

pursuits as (

    select * from {{ ref('stg_lifecycle__pursuits') }}
    where stage in (select stage from {{ ref('pursuit_stages') }} where is_open)

),

-- Open pursuits whose sent proposal has been quiet for `followup.proposal_quiet_days` at T: the rule of
-- `follow_ups` (kind proposal_quiet), read here from the same inputs so the panel keeps its own grain.
follow_up_quiet_days as (

    select org_id, max(try_cast(value as double)) as days
    from {{ ref('stg_lifecycle__config_registry') }}
    where key = 'followup.proposal_quiet_days'
        and coalesce(effective_from <= {{ as_of() }}, true)
        and coalesce(effective_to > {{ as_of() }}, true)
    group by org_id

),

follow_up_pursuits as (

    select pursuits.org_id, pursuits.pursuit_id
    from pursuits
    inner join follow_up_quiet_days on follow_up_quiet_days.org_id = pursuits.org_id
    where pursuits.proposals_sent > 0
        and pursuits.last_event_at
            <= {{ as_of() }} - to_microseconds(cast(follow_up_quiet_days.days * 86400000000 as bigint))

),

-- The metric of each item's oldest open breach (ties by metric name).
open_breaches as (

    select
        org_id,
        item_type,
        item_id,
        list(metric order by breached_at, metric)[1] as sla_metric
    from {{ ref('sla_breaches') }}
    where is_open
    group by org_id, item_type, item_id

),

items as (

    select
        org_id,
        'candidate' as item_type,
        candidate_id as item_id,
        title as label,
        status as state,
        owner,
        cast(null as date) as due_date,
        last_event_at as last_touch_at,
        tags,
        value_band,
        cast(null as double) as forecast_value_usd,
        cast(null as double) as compliance_score
    from candidates
    where status in (select state from {{ ref('candidate_states') }} where is_open)

    union all

    select
        pursuits.org_id,
        'pursuit' as item_type,
        pursuits.pursuit_id as item_id,
        'Pursuit #' || pursuits.pursuit_id || ': ' || coalesce(candidates.title, '') as label,
        pursuits.stage as state,
        pursuits.owner,
        pursuits.due_date,
        pursuits.last_event_at as last_touch_at,
        candidates.tags,
        cast(null as varchar) as value_band,
        pursuits.forecast_value_usd,
        pursuits.compliance_score
    from pursuits
    left join candidates
        on candidates.org_id = pursuits.org_id
        and candidates.candidate_id = pursuits.candidate_id

),

measured as (

    select
        items.*,
        open_breaches.sla_metric,
        cast(date_diff('microsecond', items.last_touch_at, {{ as_of() }}) as double) / 3600000000.0
            as hours_since_touch,
        date_diff('day', cast(timezone('UTC', {{ as_of() }}) as date), items.due_date) as days_until_due,
        -- the owner's open items of the same type, the row itself included
        case when items.owner is not null
            then count(*) over (partition by items.org_id, items.item_type, items.owner)
            else 0
        end as owner_open_items
    from items
    left join open_breaches
        on open_breaches.org_id = items.org_id
        and open_breaches.item_type = items.item_type
        and open_breaches.item_id = items.item_id

),

-- Which case of each component applies (names as in the `ranking.<component>.<case>` keys).
cased as (

    select
        measured.*,
        case
            when item_type = 'candidate' then case
                when sla_metric is not null then 'breach'
                when hours_since_touch > ranking.candidate_urgency__stale_after_hours then 'stale'
                when hours_since_touch > ranking.candidate_urgency__aging_after_hours then 'aging'
                else 'fresh'
            end
            else case
                when sla_metric is not null then 'breach'
                when days_until_due < 0 then 'overdue'
                when days_until_due <= ranking.pursuit_urgency__due_soon_days then 'due_soon'
                else 'normal'
            end
        end as urgency_case,
        case
            when item_type = 'candidate' then coalesce(value_band, 'none')
            when forecast_value_usd >= ranking.pursuit_value__large_min_usd then 'large'
            when forecast_value_usd >= ranking.pursuit_value__medium_min_usd then 'medium'
            when forecast_value_usd >= ranking.pursuit_value__small_min_usd then 'small'
            else 'other'
        end as value_case,
        case
            when item_type = 'candidate' then null
            when compliance_score >= ranking.pursuit_compliance__high_min then 'high'
            when compliance_score >= ranking.pursuit_compliance__mid_min then 'mid'
            when compliance_score >= ranking.pursuit_compliance__low_min then 'low'
            else 'none'
        end as compliance_case,
        -- badge amber: a candidate untouched longer than the aging cut-off, a pursuit past its due date
        case
            when sla_metric is not null then 'red'
            when item_type = 'candidate' and hours_since_touch > ranking.candidate_urgency__aging_after_hours
                then 'amber'
            when item_type = 'pursuit' and days_until_due < 0 then 'amber'
            else 'green'
        end as badge,
        ranking.* exclude (org_id)
    from measured
    left join ranking
        on ranking.org_id = measured.org_id

),

scored as (

    select
        *,
        coalesce(case item_type
            when 'candidate' then case urgency_case
                when 'breach' then candidate_urgency__breach
                when 'stale' then candidate_urgency__stale
                when 'aging' then candidate_urgency__aging
                else candidate_urgency__fresh
            end
            else case urgency_case
                when 'breach' then pursuit_urgency__breach
                when 'overdue' then pursuit_urgency__overdue
                when 'due_soon' then pursuit_urgency__due_soon
                else pursuit_urgency__normal
            end
        end, 0) as urgency_points,
        coalesce(case item_type
            when 'candidate' then case value_case
                when 'high' then candidate_value__high
                when 'med' then candidate_value__med
                when 'low' then candidate_value__low
                when 'none' then candidate_value__none
            end
            else case value_case
                when 'large' then pursuit_value__large
                when 'medium' then pursuit_value__medium
                when 'small' then pursuit_value__small
                else pursuit_value__other
            end
        end, 0) as value_points,
        coalesce(case item_type
            when 'candidate' then case state
                when 'triaged' then candidate_stage__triaged
                when 'nurture' then candidate_stage__nurture
                when 'on_hold' then candidate_stage__on_hold
            end
            else case state
                when 'qual' then pursuit_stage__qual
                when 'pink' then pursuit_stage__pink
                when 'red' then pursuit_stage__red
                when 'submit' then pursuit_stage__submit
            end
        end, 0) as stage_points,
        coalesce(case compliance_case
            when 'high' then pursuit_compliance__high
            when 'mid' then pursuit_compliance__mid
            when 'low' then pursuit_compliance__low
            when 'none' then pursuit_compliance__none
        end, 0) as compliance_points,
        0 - coalesce(owner_open_items * case item_type
            when 'candidate' then candidate_workload__per_item
            else pursuit_workload__per_item
        end, 0) as workload_points
    from cased

),

totalled as (

    select
        *,
        urgency_points + value_points + stage_points + compliance_points + workload_points as priority_score,
        -- the five components as display text: +50, −6 (a real minus sign), 0; no trailing zeros
        list_transform(
            [urgency_points, value_points, stage_points, compliance_points, workload_points],
            x -> case
                when x > 0 then '+' || format('{:g}', cast(x as double))
                when x < 0 then '−' || format('{:g}', cast(-x as double))
                else '0'
            end
        ) as shown_points
    from scored

),

explained as (

    select
        *,
        case
            when priority_score >= tier__critical_min then 'critical'
            when priority_score >= tier__high_min then 'high'
            when priority_score >= tier__medium_min then 'medium'
            else 'low'
        end as priority_tier,
        concat_ws(' · ',
            'urgency ' || shown_points[1] || ' (' || case
                when urgency_case = 'breach' then 'open ' || sla_metric || ' breach'
                when item_type = 'candidate' and last_touch_at is null then 'never touched'
                when item_type = 'candidate'
                    then 'last touch ' || format('{:.0f}', floor(hours_since_touch)) || ' h ago'
                when due_date is null then 'no due date'
                when days_until_due < -1 then 'overdue by ' || (-days_until_due) || ' days'
                when days_until_due = -1 then 'overdue by 1 day'
                when days_until_due = 0 then 'due today'
                when days_until_due = 1 then 'due in 1 day'
                else 'due in ' || days_until_due || ' days'
            end || ')',
            'value ' || shown_points[2] || ' (' || case
                when item_type = 'candidate' and value_band is null then 'no band'
                when item_type = 'candidate' then 'band ' || value_band
                when forecast_value_usd is null then 'no forecast'
                when value_case = 'large' then 'forecast ≥ ' || format('{:,.0f}', pursuit_value__large_min_usd)
                when value_case = 'medium' then 'forecast ≥ ' || format('{:,.0f}', pursuit_value__medium_min_usd)
                when value_case = 'small' then 'forecast ≥ ' || format('{:,.0f}', pursuit_value__small_min_usd)
                else 'forecast < ' || format('{:,.0f}', pursuit_value__small_min_usd)
            end || ')',
            'stage ' || shown_points[3] || ' (' || state || ')',
            case when item_type = 'pursuit' then 'compliance ' || shown_points[4] || ' (' || case
                when compliance_score is null then 'no score'
                when compliance_case = 'high' then 'score ≥ ' || format('{:.1f}', pursuit_compliance__high_min)
                when compliance_case = 'mid' then 'score ≥ ' || format('{:.1f}', pursuit_compliance__mid_min)
                when compliance_case = 'low' then 'score ≥ ' || format('{:.1f}', pursuit_compliance__low_min)
                else 'score < ' || format('{:.1f}', pursuit_compliance__low_min)
            end || ')' end,
            'workload ' || shown_points[5] || ' (' || case
                when owner is null then 'no owner'
                else owner_open_items || ' open ' || item_type || case when owner_open_items = 1 then '' else 's' end
            end || ')'
        ) as why
    from totalled

),

ranked as (

    select
        org_id,
        item_type,
        item_id,
        label,
        state,
        owner,
        due_date,
        last_touch_at,
        hours_since_touch,
        tags,
        -- a pursuit's band from its forecast (its value band): high / med / low (no forecast: low)
        case
            when item_type = 'candidate' then value_band
            when forecast_value_usd >= pursuit_value__large_min_usd then 'high'
            when forecast_value_usd >= pursuit_value__medium_min_usd then 'med'
            else 'low'
        end as value_band,
        forecast_value_usd,
        sla_metric,
        badge,
        cast(urgency_points as double) as urgency_points,
        cast(value_points as double) as value_points,
        cast(stage_points as double) as stage_points,
        cast(compliance_points as double) as compliance_points,
        cast(workload_points as double) as workload_points,
        cast(priority_score as double) as priority_score,
        priority_tier,
        row_number() over (
            partition by org_id
            order by priority_score desc, due_date asc nulls last, last_touch_at asc nulls last, item_id asc,
                item_type asc
        ) as rank,
        why,
        {{ as_of() }} as built_at
    from explained

),

final as (

    select
        ranked.* exclude (built_at),
        follow_up_pursuits.pursuit_id is not null as follow_up_due,
        ranked.built_at
    from ranked
    left join follow_up_pursuits
        on ranked.item_type = 'pursuit'
        and follow_up_pursuits.org_id = ranked.org_id
        and follow_up_pursuits.pursuit_id = ranked.item_id

)

select * from final
