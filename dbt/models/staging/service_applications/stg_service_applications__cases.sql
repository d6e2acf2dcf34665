{# Service cases of the one-window service centre as delivered, one row per case per delivery day. Renames, casts and normalises only. #}
with

source as (

    select * from {{ source('service_applications', 'service_applications') }}

),

batches as (

    select batch_id, file_name from {{ source('meta', 'load_batch') }}

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
        batches.file_name,
        _row_no as row_no,
        _loaded_at as loaded_at
    from source
    inner join batches on source._batch_id = batches.batch_id

)

select * from renamed
