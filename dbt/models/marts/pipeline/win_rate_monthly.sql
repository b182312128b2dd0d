-- Won and lost pursuits per org and calendar month (UTC) of their close, as of the as-of time.
with

closed as (

    select
        org_id,
        outcome,
        cast(date_trunc('month', timezone('UTC', closed_at)) as date) as month_start
    from {{ ref('stg_lifecycle__pursuits') }}
    where outcome in ('won', 'lost')
        and closed_at is not null

),

final as (

    select
        org_id,
        month_start,
        count(*) filter (where outcome = 'won') as won,
        count(*) filter (where outcome = 'lost') as lost,
        cast(count(*) filter (where outcome = 'won') as double) / count(*) as win_rate,
        {{ as_of() }} as built_at
    from closed
    group by org_id, month_start

)

select * from final
