{# Grid incidents as delivered, one row per incident per delivery day. Renames, casts and normalises only. #}
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
        reporter_person_key::text as reporter_person_key,
        reported_at,
        dispatched_at,
        resolved_at,
        closed_at,
        coalesce(reopened, false) as is_reopened,
        _ds as delivery_date,
        _batch_id as batch_id,
        _row_no as row_no,
        _loaded_at as loaded_at
    from source

)

select * from renamed
