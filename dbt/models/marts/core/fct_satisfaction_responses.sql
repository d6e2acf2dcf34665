{# One row per satisfaction survey response by answer day. #}
with

responses as (

    select * from {{ ref('int_survey_responses_deduplicated') }}

),

final as (

    select
        survey_id,
        subject_type,
        case_id,
        incident_id,
        community_code,
        respondent_person_key,
        score,
        is_satisfied,
        survey_channel,
        surveyed_at,
        surveyed_date,
        delivery_date
    from responses

)

select * from final
