-- Live memory atoms as of the as-of time T (contract "Memory defaults"), with score, relevance and components,
-- exactly as dagster_project/memory/relevance.py computes them:
--   expires_at (effective) = the explicit expires_at, else occurred_at + memory.retention_days.<type>
--   live                   = expires_at > T (redacted atoms never reach core)
--   score                  = min(memory.score.<type> × trust_weight, 100)
--   relevance              = score × 0.5^(age_days / memory.half_life_days.<type>); pinned types: × 1
-- Every memory.* value is the org's config in force at T (the pattern of today_panel's `ranking` CTE).
with

atoms as (

    select * from {{ ref('stg_lifecycle__memory_atoms') }}

),

config_at_t as (

    select org_id, key, value
    from {{ ref('stg_lifecycle__config_registry') }}
    where key like 'memory.%'
        and coalesce(effective_from <= {{ as_of() }}, true)
        and coalesce(effective_to > {{ as_of() }}, true)

),

-- The contract defaults, used only for an org without a registry row for a key.
type_defaults as (

    select * from (
        values
            ('decision', 100.0, 365.0, 180.0),
            ('risk', 90.0, 365.0, 180.0),
            ('preference', 80.0, 365.0, 180.0),
            ('note', 60.0, 90.0, 30.0),
            ('status', 40.0, 30.0, 30.0)
    ) as t (atom_type, score, retention_days, half_life_days)

),

orgs as (

    select distinct org_id from atoms

),

-- One row per org and atom type: its values in force at T.
type_config as (

    select
        orgs.org_id,
        type_defaults.atom_type,
        coalesce(
            max(try_cast(config_at_t.value as double))
                filter (where config_at_t.key = 'memory.score.' || type_defaults.atom_type),
            any_value(type_defaults.score)
        ) as base_score,
        coalesce(
            max(try_cast(config_at_t.value as double))
                filter (where config_at_t.key = 'memory.retention_days.' || type_defaults.atom_type),
            any_value(type_defaults.retention_days)
        ) as retention_days,
        coalesce(
            max(try_cast(config_at_t.value as double))
                filter (where config_at_t.key = 'memory.half_life_days.' || type_defaults.atom_type),
            any_value(type_defaults.half_life_days)
        ) as half_life_days,
        coalesce(
            bool_or(list_contains(try_cast(config_at_t.value as varchar[]), type_defaults.atom_type))
                filter (where config_at_t.key = 'memory.pinned_types'),
            false
        ) as pinned
    from orgs
    cross join type_defaults
    left join config_at_t
        on config_at_t.org_id = orgs.org_id
    group by orgs.org_id, type_defaults.atom_type

),

judged as (

    select
        atoms.*,
        type_config.base_score,
        type_config.half_life_days,
        type_config.pinned,
        case
            when atoms.expires_explicit then atoms.expires_at
            else atoms.occurred_at
                + to_microseconds(cast(round(type_config.retention_days * 86400000000.0) as bigint))
        end as expires_at_effective,
        -- seconds first, then days: the same two roundings as Python's total_seconds() / 86400
        greatest(cast(date_diff('microsecond', atoms.occurred_at, {{ as_of() }}) as double) / 1000000.0, 0.0)
            / 86400.0 as age_days
    from atoms
    inner join type_config
        on type_config.org_id = atoms.org_id
        and type_config.atom_type = atoms.atom_type

),

scored as (

    select
        *,
        least(base_score * trust_weight, 100.0) as score,
        case when pinned then 1.0 else pow(0.5, age_days / half_life_days) end as decay_factor
    from judged
    where expires_at_effective > {{ as_of() }}

),

final as (

    select
        org_id,
        atom_id,
        entity_type,
        entity_id,
        client_id,
        atom_type,
        content,
        source,
        trust_weight,
        tags,
        occurred_at,
        expires_at_effective as expires_at,
        version,
        score,
        score * decay_factor as relevance,
        base_score,
        age_days,
        half_life_days,
        decay_factor,
        pinned,
        {{ as_of() }} as built_at
    from scored

)

select * from final
