-- Every client as of the as-of time: the per-cluster parts merged into one row per (org, client).
with

client_parts as (

    select * from {{ ref('stg_lifecycle__client_parts') }}

),

merged as (

    select
        org_id,
        client_id,
        -- a field is set by at most one part in practice; max() picks the non-null value deterministically
        max(name) as name,
        max(domain) as domain,
        max(industry) as industry,
        min(created_at) as created_at,
        max(last_event_at) as last_event_at
    from client_parts
    group by org_id, client_id

),

final as (

    select
        org_id,
        client_id,
        name,
        domain,
        industry,
        created_at,
        last_event_at,
        {{ as_of() }} as built_at
    from merged

)

select * from final
