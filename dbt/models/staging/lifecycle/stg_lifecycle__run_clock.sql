-- The run clock: the as-of time the core tables hold and the clock of the run that applied them (one row).
with

source as (

    select * from {{ source('core', 'run_clock') }}

),

renamed as (

    select
        cast(as_of as timestamptz) as as_of,
        cast(now as timestamptz) as now
    from source

)

select * from renamed
