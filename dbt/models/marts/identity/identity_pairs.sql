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
