{# One row per satisfaction survey response by answer day (incremental strategy day_window). #}
{{ config(materialized='incremental', incremental_strategy='day_window', day_column='surveyed_date',
          on_schema_change='fail') }}
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
    where {{ in_day_window('surveyed_date') }}

)

select * from final
