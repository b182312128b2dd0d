-- Every quality-gate attempt (org, gate, event) as of the as-of time: the rows that gate_pass_rates counts,
-- published so a period's attempts can be counted by the day they happened.
with

attempts as (

    select org_id, gate, event_id, pursuit_id, occurred_at, passed, missing_items
    from {{ ref('int_lifecycle__gate_attempts') }}

),

final as (

    select
        org_id,
        gate,
        event_id,
        pursuit_id,
        occurred_at,
        passed,
        cast(missing_items as varchar[]) as missing_items,
        {{ as_of() }} as built_at
    from attempts

)

select * from final
