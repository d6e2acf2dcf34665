{# Satisfaction survey responses as delivered, pseudonymised. Renames, casts and normalises only. #}
with

source as (

    select * from {{ source('satisfaction_surveys', 'satisfaction_surveys') }}

),

batches as (

    select batch_id, file_name from {{ source('meta', 'load_batch') }}

),

renamed as (

    select
        survey_id,
        case_id,
        incident_id,
        community_code,
        respondent_person_key::text as respondent_person_key,
        score,
        channel as survey_channel,
        surveyed_at,
        _ds as delivery_date,
        _batch_id as batch_id,
        batches.file_name,
        _row_no as row_no,
        _loaded_at as loaded_at
    from source
    inner join batches on source._batch_id = batches.batch_id

)

select * from renamed
