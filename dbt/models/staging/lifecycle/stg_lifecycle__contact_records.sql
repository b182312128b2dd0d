-- The records that name a person (contacts, and the senders signals name), one row per record.
with

source as (

    select * from {{ source('core', 'contact_records') }}

),

renamed as (

    select
        ---------- ids
        cast(org_id as varchar) as org_id,
        cast(record_type as varchar) as record_type,
        cast(record_id as varchar) as record_id,
        cast(source_system as varchar) as source_system,
        cast(source_id as varchar) as source_id,

        ---------- the person (personal fields are null once erased)
        cast(name as varchar) as name,
        cast(email as varchar) as email,
        cast(phone as varchar) as phone,
        cast(title as varchar) as title,

        ---------- where they work, who owns them, what they sent
        cast(client_id as varchar) as client_id,
        cast(company_name as varchar) as company_name,
        cast(company_domain as varchar) as company_domain,
        cast(owner as varchar) as owner,
        cast(signal_ids as varchar[]) as signal_ids,

        ---------- timestamps
        cast(erased_at as timestamptz) as erased_at,
        cast(first_seen_at as timestamptz) as first_seen_at,
        cast(last_seen_at as timestamptz) as last_seen_at

    from source

)

select * from renamed
