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

-- Which card each atom belongs to: its own entity's, and its client's roll-up, with the narrow columns the
-- ranks read. A client's own atom (client_id = its entity id) is in that card once: the second branch
-- leaves it out rather than a distinct over every row (atom ids are unique per org).
membership as (

    select
        org_id, entity_type as card_type, entity_id as card_id,
        atom_id, atom_type, relevance, occurred_at, version
    from atoms

    union all

    select
        org_id, 'client' as card_type, client_id as card_id,
        atom_id, atom_type, relevance, occurred_at, version
    from atoms
    where client_id is not null
        and not coalesce(entity_type = 'client' and entity_id = client_id, false)

),

-- Ranks on the narrow columns alone: a card shows at most 24 of its atoms, so the wide rows (content and
-- the item built from it) are read for those and not carried through the sorts. Every list but the
-- recent one is ranked by relevance; within one type (or the facts) a running count of that type over the
-- card's relevance order is its rank there, so those four ranks share one sort.
ranked as (

    select
        org_id,
        card_type,
        card_id,
        atom_id,
        atom_type,
        relevance,
        occurred_at,
        version,
        row_number() over by_relevance as top_rank,
        count(*) filter (where atom_type in ('preference', 'decision')) over by_relevance as fact_rank,
        count(*) filter (where atom_type = 'decision') over by_relevance as decision_rank,
        count(*) filter (where atom_type = 'risk') over by_relevance as risk_rank,
        row_number() over (
            partition by org_id, card_type, card_id
            order by occurred_at desc, atom_id
        ) as recent_rank,
        count(*) over by_card as atoms_total,
        cast(sum(version) over by_card as bigint) as version_total
    from membership
    window
        by_relevance as (
            partition by org_id, card_type, card_id
            order by relevance desc, atom_id
            rows between unbounded preceding and current row
        ),
        by_card as (partition by org_id, card_type, card_id)

),

-- The atoms some list of the card shows (every card has one: its top atom), each with its item.
shown as (

    select
        ranked.*,
        json_object(
            'atom_id', atoms.atom_id,
            'atom_type', atoms.atom_type,
            'content', left(atoms.content, 300),
            'occurred_at', strftime(timezone('UTC', atoms.occurred_at), '%Y-%m-%dT%H:%M:%S.%fZ')
        ) as item
    from ranked
    inner join atoms
        on atoms.org_id = ranked.org_id
        and atoms.atom_id = ranked.atom_id
    where ranked.top_rank <= 10
        or ranked.recent_rank <= 3
        or (ranked.atom_type in ('preference', 'decision') and ranked.fact_rank <= 5)
        or (ranked.atom_type = 'decision' and ranked.decision_rank <= 3)
        or (ranked.atom_type = 'risk' and ranked.risk_rank <= 3)

),

-- Each list in its rank's order: the rank already is the list's order (relevance or time, then atom_id),
-- and sorting each card's few items by it costs less than an ordered aggregate over every card.
cards as (

    select
        shown.org_id,
        shown.card_type as entity_type,
        shown.card_id as entity_id,
        coalesce(
            to_json(list_transform(list_sort(list({'rank': shown.fact_rank, 'item': shown.item})
                filter (where shown.atom_type in ('preference', 'decision') and shown.fact_rank <= 5)), x -> x.item)),
            cast('[]' as json)
        ) as key_facts,
        coalesce(
            to_json(list_transform(list_sort(list({'rank': shown.recent_rank, 'item': shown.item})
                filter (where shown.recent_rank <= 3)), x -> x.item)),
            cast('[]' as json)
        ) as recent_activity,
        coalesce(
            to_json(list_transform(list_sort(list({'rank': shown.decision_rank, 'item': shown.item})
                filter (where shown.atom_type = 'decision' and shown.decision_rank <= 3)), x -> x.item)),
            cast('[]' as json)
        ) as decisions,
        coalesce(
            to_json(list_transform(list_sort(list({'rank': shown.risk_rank, 'item': shown.item})
                filter (where shown.atom_type = 'risk' and shown.risk_rank <= 3)), x -> x.item)),
            cast('[]' as json)
        ) as risks,
        coalesce(
            to_json(list_transform(list_sort(list({'rank': shown.top_rank, 'item': shown.item})
                filter (where shown.top_rank <= 10)), x -> x.item)),
            cast('[]' as json)
        ) as top_atoms,
        any_value(shown.atoms_total) as atoms_total,
        any_value(shown.version_total) as version
    from shown
    group by shown.org_id, shown.card_type, shown.card_id

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
