-- Similar closed pursuits per open pursuit (dagster_project/scoring/patterns.py) with their decisive memory:
-- the live decision and risk atoms of the similar pursuit, read from `memory_atoms` (so expiry and redaction
-- apply; the scoring step never copies memory text).
with

matches as (

    select * from {{ ref('stg_scoring__similar_pursuits') }}

),

atoms as (

    select org_id, entity_id as pursuit_id, content, relevance, atom_id
    from {{ ref('memory_atoms') }}
    where entity_type = 'pursuit' and atom_type in ('decision', 'risk')

),

decisive as (

    select
        matches.org_id,
        matches.pursuit_id,
        matches.similar_rank,
        coalesce(
            list(atoms.content order by atoms.relevance desc, atoms.atom_id) filter (where atoms.atom_id is not null),
            []
        )[1:3] as decisive_atoms
    from matches
    left join atoms
        on atoms.org_id = matches.org_id and atoms.pursuit_id = matches.similar_pursuit_id
    group by matches.org_id, matches.pursuit_id, matches.similar_rank

),

final as (

    select
        matches.org_id,
        matches.pursuit_id,
        matches.similar_rank,
        matches.similar_pursuit_id,
        matches.same_client,
        matches.same_industry,
        matches.same_value_band,
        matches.outcome,
        matches.closed_at,
        decisive.decisive_atoms
    from matches
    inner join decisive using (org_id, pursuit_id, similar_rank)

)

select * from final
