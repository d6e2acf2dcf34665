{# 12345 hotline complaints as delivered. Renames, casts and normalises only. #}
with

source as (

    select * from {{ source('hotline_complaints', 'hotline_complaints') }}

),

renamed as (

    select
        complaint_id,
        caller_person_key::text as caller_person_key,
        caller_phone,
        category,
        community_code,
        linked_case_id,
        linked_incident_id,
        created_at,
        responded_at,
        closed_at,
        _ds as delivery_date,
        _batch_id as batch_id,
        _row_no as row_no,
        _loaded_at as loaded_at
    from source

)

select * from renamed
