-- Each org's effective-dated config (defaults and overrides); `value` is JSON text in core, JSON here.
with

source as (

    select * from {{ source('core', 'config_registry') }}

),

renamed as (

    select
        ---------- ids
        cast(org_id as varchar) as org_id,
        cast(key as varchar) as key,
        cast(event_id as varchar) as event_id,

        ---------- value
        cast(value as json) as value,
        cast(source as varchar) as source,

        ---------- validity
        cast(effective_from as timestamptz) as effective_from,
        cast(effective_to as timestamptz) as effective_to

    from source

)

select * from renamed
