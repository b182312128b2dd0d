-- Conversion and time-to-convert for each funnel stage pair, per org, as of the as-of time.
with

orgs as (

    select distinct org_id from {{ ref('stg_workstream__events') }}

),

-- The contract's stage pairs, in display order (reference data generated from the contract module).
stage_pairs as (

    select pair_order, item_type, from_stage, to_stage
    from {{ ref('funnel_stage_pairs') }}

),

-- The upstream model is already as-of filtered; the cut-off is repeated so this model is correct on its own.
stage_entries as (

    select org_id, item_type, item_id, stage, first_entered_at
    from {{ ref('int_incremental__funnel_stage_entries') }}
    where first_entered_at <= {{ as_of() }}

),

item_pairs as (

    select
        from_entry.org_id,
        stage_pairs.pair_order,
        from_entry.item_id,
        from_entry.first_entered_at as from_entered_at,
        to_entry.first_entered_at as to_entered_at
    from stage_pairs
    inner join stage_entries as from_entry
        on from_entry.item_type = stage_pairs.item_type
        and from_entry.stage = stage_pairs.from_stage
    left join stage_entries as to_entry
        on to_entry.org_id = from_entry.org_id
        and to_entry.item_type = from_entry.item_type
        and to_entry.item_id = from_entry.item_id
        and to_entry.stage = stage_pairs.to_stage
        and to_entry.first_entered_at >= from_entry.first_entered_at

),

measured as (

    select
        org_id,
        pair_order,
        item_id,
        to_entered_at is not null as is_converted,
        cast(date_diff('microsecond', from_entered_at, to_entered_at) as double) / 3600000000.0 as hours_to_convert
    from item_pairs

),

aggregated as (

    select
        org_id,
        pair_order,
        count(*) as entered,
        count(*) filter (where is_converted) as converted,
        quantile_cont(hours_to_convert, 0.5) as median_hours,
        quantile_cont(hours_to_convert, 0.9) as p90_hours
    from measured
    group by org_id, pair_order

),

final as (

    select
        orgs.org_id,
        stage_pairs.from_stage,
        stage_pairs.to_stage,
        cast(stage_pairs.pair_order as integer) as pair_order,
        stage_pairs.item_type,
        cast(coalesce(aggregated.entered, 0) as bigint) as entered,
        cast(coalesce(aggregated.converted, 0) as bigint) as converted,
        cast(aggregated.converted as double) / nullif(aggregated.entered, 0) as conversion_rate,
        cast(aggregated.median_hours as double) as median_hours,
        cast(aggregated.p90_hours as double) as p90_hours,
        {{ as_of() }} as built_at
    from orgs
    cross join stage_pairs
    left join aggregated
        on aggregated.org_id = orgs.org_id
        and aggregated.pair_order = stage_pairs.pair_order

)

select * from final
