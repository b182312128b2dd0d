-- One row per resolved person as of the as-of time: the records identity resolution put together,
-- with the best-known name, email and phone (a contact record before a signal's sender, then the most
-- recently seen) and the canonical client: the one a record names, else the one whose web domain is
-- the record's company domain (compared lowercased, without `www.`; a domain two canonical clients
-- share names neither). A person whose every record was erased is left out.
with

links as (

    select * from {{ ref('stg_identity__links') }} where entity_type = 'contact'

),

records as (

    select * from {{ ref('stg_lifecycle__contact_records') }}

),

client_links as (

    select org_id, record_id as client_id, canonical_id as canonical_client_id
    from {{ ref('stg_identity__links') }}
    where entity_type = 'client'

),

client_domains as (

    select
        parts.org_id,
        regexp_replace(lower(trim(parts.domain)), '^www\.', '') as domain_key,
        min(coalesce(c.canonical_client_id, parts.client_id)) as client_id
    from {{ ref('stg_lifecycle__client_parts') }} as parts
    left join client_links c
        on c.org_id = parts.org_id and c.client_id = parts.client_id
    where nullif(trim(parts.domain), '') is not null
    group by 1, 2
    having count(distinct coalesce(c.canonical_client_id, parts.client_id)) = 1

),

joined as (

    select
        l.org_id,
        l.canonical_id,
        r.*,
        coalesce(c.canonical_client_id, r.client_id, d.client_id) as resolved_client_id,
        -- a contact's own record first, then the latest seen, then the id: a stable choice
        (r.record_type = 'contact')::int as is_contact
    from links l
    join records r
        on r.org_id = l.org_id and r.record_type = l.record_type and r.record_id = l.record_id
    left join client_links c
        on c.org_id = r.org_id and c.client_id = r.client_id
    left join client_domains d
        on d.org_id = r.org_id
        and d.domain_key = regexp_replace(lower(trim(r.company_domain)), '^www\.', '')

),

people as (

    select
        org_id,
        canonical_id as contact_id,
        first(name order by is_contact desc, last_seen_at desc, record_id) filter (where name is not null) as name,
        first(email order by is_contact desc, last_seen_at desc, record_id) filter (where email is not null) as email,
        first(phone order by is_contact desc, last_seen_at desc, record_id) filter (where phone is not null) as phone,
        first(resolved_client_id order by is_contact desc, last_seen_at desc, record_id)
            filter (where resolved_client_id is not null) as client_id,
        min(first_seen_at) as first_seen_at,
        max(last_seen_at) as last_seen_at,
        count(*) as records,
        list_sort(list_distinct(flatten(list(signal_ids)))) as signal_ids,
        bool_and(erased_at is not null) as all_erased
    from joined
    group by org_id, canonical_id

),

final as (

    select
        org_id,
        contact_id,
        name,
        email,
        phone,
        client_id,
        first_seen_at,
        last_seen_at,
        cast(records as integer) as records,
        signal_ids,
        {{ as_of() }} as built_at
    from people
    where not all_erased

)

select * from final
