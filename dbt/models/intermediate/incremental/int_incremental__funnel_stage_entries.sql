-- First entry of every funnel item into every stage it reached, from the lifecycle engine's applied
-- transitions (already as of the as-of time). Warned transitions were applied, so they count as entered.
-- Kept by cluster (dbt/macros/incremental.sql): an item's transitions are all in its cluster, so a build
-- takes the first entries of the clusters the apply wrote since the last one, a full refresh all of them.
-- Interface: (org_id, item_type, item_id, stage, first_entered_at, cluster_id).
-- depends_on: {{ ref('stg_lifecycle__cluster_changes') }}
with

transitions as (

    select org_id, entity_type, entity_id, from_state, to_state, occurred_at, cluster_id
    from {{ ref('stg_lifecycle__transitions') }} as source_rows
    {% if is_incremental() %}
    where {{ in_changed_clusters('source_rows') }}
    {% endif %}

),

stage_entries as (

    select
        org_id,
        entity_type as item_type,
        entity_id as item_id,
        case
            -- signals: created (whatever state they start in) and first linked from a candidate
            when entity_type = 'signal' and from_state is null then 'signal'
            when entity_type = 'signal' and to_state = 'linked' then 'candidate'
            -- candidates: created and promoted
            when entity_type = 'candidate' and from_state is null then 'candidate'
            when entity_type = 'candidate' and to_state = 'promoted' then 'promoted'
            -- pursuits: every stage entered, including the creation into qual
            when entity_type = 'pursuit' and to_state in (select stage from {{ ref('pursuit_stages') }})
                then to_state
        end as stage,
        occurred_at,
        cluster_id
    from transitions

    union all

    -- A signal linked before it existed is created straight into `linked`: it enters both stages at once.
    select org_id, entity_type, entity_id, 'candidate', occurred_at, cluster_id
    from transitions
    where entity_type = 'signal' and from_state is null and to_state = 'linked'

),

first_entries as (

    select
        org_id,
        item_type,
        item_id,
        stage,
        min(occurred_at) as first_entered_at,
        -- One cluster per item (the apply writes all of an entity's rows under its cluster's id), so
        -- grouping by it keeps one row per item and stage; the unique test would say otherwise.
        cluster_id
    from stage_entries
    where stage is not null and item_id is not null
    group by org_id, item_type, item_id, stage, cluster_id

)

select * from first_entries
