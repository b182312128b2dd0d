-- Memory cards as of the as-of time T: one per entity with live atoms (signal, candidate, pursuit, client) and one
-- per client roll-up (entity_type 'client', entity_id = the client id: every live atom with that client_id plus the
-- client's own atoms; when the client has its own atoms the roll-up is its card). Budget (contract "Memory
-- defaults"): 5 key facts (preference/decision), 3 recent items, 3 decisions, 3 risks, 10 top atoms; each item
-- {atom_id, atom_type, content (first 300 characters), occurred_at}. Ranked by relevance (desc), recent by
-- occurred_at (desc); ties by atom_id. The etag hashes only what is shown, so a later T alone changes it only if
-- that changes what is shown (e.g. the order by relevance).
with

atoms as (

    select * from {{ ref('memory_atoms') }}

),

-- Which card each atom belongs to: its own entity's, and its client's roll-up (deduplicated).
membership as (

    select org_id, entity_type as card_type, entity_id as card_id, atom_id
    from atoms

    union

    select org_id, 'client' as card_type, client_id as card_id, atom_id
    from atoms
    where client_id is not null

),

card_atoms as (

    select
        membership.card_type,
        membership.card_id,
        atoms.*,
        json_object(
            'atom_id', atoms.atom_id,
            'atom_type', atoms.atom_type,
            'content', left(atoms.content, 300),
            'occurred_at', strftime(timezone('UTC', atoms.occurred_at), '%Y-%m-%dT%H:%M:%S.%fZ')
        ) as item
    from membership
    inner join atoms
        on atoms.org_id = membership.org_id
        and atoms.atom_id = membership.atom_id

),

ranked as (

    select
        *,
        row_number() over (
            partition by org_id, card_type, card_id order by relevance desc, atom_id
        ) as top_rank,
        row_number() over (
            partition by org_id, card_type, card_id order by occurred_at desc, atom_id
        ) as recent_rank,
        row_number() over (
            partition by org_id, card_type, card_id, atom_type in ('preference', 'decision')
            order by relevance desc, atom_id
        ) as fact_rank,
        row_number() over (
            partition by org_id, card_type, card_id, atom_type order by relevance desc, atom_id
        ) as type_rank
    from card_atoms

),

cards as (

    select
        org_id,
        card_type as entity_type,
        card_id as entity_id,
        coalesce(
            to_json(list(item order by relevance desc, atom_id)
                filter (where atom_type in ('preference', 'decision') and fact_rank <= 5)),
            cast('[]' as json)
        ) as key_facts,
        coalesce(
            to_json(list(item order by occurred_at desc, atom_id) filter (where recent_rank <= 3)),
            cast('[]' as json)
        ) as recent_activity,
        coalesce(
            to_json(list(item order by relevance desc, atom_id)
                filter (where atom_type = 'decision' and type_rank <= 3)),
            cast('[]' as json)
        ) as decisions,
        coalesce(
            to_json(list(item order by relevance desc, atom_id)
                filter (where atom_type = 'risk' and type_rank <= 3)),
            cast('[]' as json)
        ) as risks,
        coalesce(
            to_json(list(item order by relevance desc, atom_id) filter (where top_rank <= 10)),
            cast('[]' as json)
        ) as top_atoms,
        count(*) as atoms_total,
        cast(sum(version) as bigint) as version
    from ranked
    group by org_id, card_type, card_id

),

final as (

    select
        org_id,
        entity_type,
        entity_id,
        key_facts,
        recent_activity,
        decisions,
        risks,
        top_atoms,
        atoms_total,
        version,
        '"' || md5(
            cast(key_facts as varchar)
            || cast(recent_activity as varchar)
            || cast(decisions as varchar)
            || cast(risks as varchar)
            || cast(top_atoms as varchar)
        ) || '"' as etag,
        {{ as_of() }} as built_at
    from cards

)

select * from final
