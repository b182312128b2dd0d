{{ config(materialized='view') }}
-- A view over the identity step's kept rows (`identity.links`, rewritten only for the orgs
-- whose inputs changed): only `built_at` depends on the run's as-of time, so it is added here, and a
-- build copies none of the rows.
-- Every source record (contact, signal sender, client) with the person or company it resolves to.
with

links as (

    select * from {{ ref('stg_identity__links') }}

),

final as (

    select
        org_id,
        entity_type,
        canonical_id,
        source_system,
        source_id,
        match_rule,
        match_probability,
        record_type,
        record_id,
        model_version,
        model_parameters,
        {{ as_of() }} as built_at
    from links

)

select * from final
