with

source as (

    select * from {{ source('grid_incidents', 'grid_incidents') }}

),

renamed as (

    select
        incident_id,
        source as incident_source,
        category,
        community_code,
        grid_code,
        reporter_person_key,
        reported_at,
        dispatched_at,
        resolved_at,
        closed_at,
        coalesce(reopened, false) as is_reopened,
        _ds as delivery_date,
        _batch_id as batch_id
    from source

)

select * from renamed
