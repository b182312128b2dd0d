-- Every user of each org as of the as-of time: the people owner, capture_lead and actor name, with the
-- name pages show in their place (`display_name`: the name, else the id, so a join never loses a row).
with

user_records as (

    select * from {{ ref('stg_lifecycle__user_records') }}

),

final as (

    select
        org_id,
        user_id,
        name,
        coalesce(nullif(trim(name), ''), user_id) as display_name,
        email,
        title,
        role,
        active,
        source_system,
        source_id,
        erased_at,
        first_seen_at,
        last_seen_at,
        {{ as_of() }} as built_at
    from user_records

)

select * from final
