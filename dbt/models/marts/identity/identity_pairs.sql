{{ config(materialized='view') }}
-- A view over the identity step's kept rows (`identity.pairs`, rewritten only for the orgs
-- whose inputs changed): only `built_at` depends on the run's as-of time, so it is added here, and a
-- build copies none of the rows.
-- Every pair of person records the matcher scored, with the match weight of each comparison.
with

pairs as (

    select * from {{ ref('stg_identity__pairs') }}

),

final as (

    select
        org_id,
        entity_type,
        left_id,
        right_id,
        match_probability,
        match_weight,
        explanation,
        linked,
        model_version,
        {{ as_of() }} as built_at
    from pairs

)

select * from final
