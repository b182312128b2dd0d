-- The org's users (whom owner, capture_lead and actor name), one row per user.
with

source as (

    select * from {{ source('core', 'user_records') }}

),

renamed as (

    select
        ---------- ids
        cast(org_id as varchar) as org_id,
        cast(user_id as varchar) as user_id,
        cast(source_system as varchar) as source_system,
        cast(source_id as varchar) as source_id,

        ---------- the user (name, email and title are null once erased)
        cast(name as varchar) as name,
        cast(email as varchar) as email,
        cast(title as varchar) as title,
        cast(role as varchar) as role,
        cast(active as boolean) as active,

        ---------- timestamps
        cast(erased_at as timestamptz) as erased_at,
        cast(first_seen_at as timestamptz) as first_seen_at,
        cast(last_seen_at as timestamptz) as last_seen_at

    from source

)

select * from renamed
