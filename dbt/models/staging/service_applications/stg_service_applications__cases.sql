{# Service cases of the one-window service centre as delivered, one row per case per delivery day. Renames, casts and normalises only. #}
with

source as (

    select * from {{ source('service_applications', 'service_applications') }}

),

renamed as (

    select
        case_id,
        applicant_person_key::text as applicant_person_key,
        service_type,
        channel,
        window_no,
        community_code,
        submitted_at,
        accepted_at,
        completed_at,
        materials_count,
        coalesce(visits, 0) as visits,
        coalesce(resubmitted, false) as is_resubmitted,
        _ds as delivery_date,
        _batch_id as batch_id,
        _row_no as row_no,
        _loaded_at as loaded_at
    from source

)

select * from renamed
