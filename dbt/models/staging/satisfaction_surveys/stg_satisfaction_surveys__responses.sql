{# Satisfaction survey responses as delivered, pseudonymised. Renames, casts and normalises only. #}
with

source as (

    select * from {{ source('satisfaction_surveys', 'satisfaction_surveys') }}

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
        _row_no as row_no,
        _loaded_at as loaded_at
    from source

)

select * from renamed
