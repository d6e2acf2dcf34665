{# Satisfaction responses, the latest delivered version of each up to the run day, with what
   was rated (a service case or a grid incident). #}
with

surveys as (

    select * from {{ ref('stg_satisfaction_surveys__responses') }}

),

latest as (

    select distinct on (survey_id) *
    from surveys
    where delivery_date <= {{ run_day() }}
    order by survey_id, delivery_date desc, batch_id desc

),

final as (

    select
        survey_id,
        case
            when case_id is not null then 'service_case'
            when incident_id is not null then 'grid_incident'
            else 'other'
        end as subject_type,
        case_id,
        incident_id,
        community_code,
        respondent_person_key,
        score,
        score >= 4 as is_satisfied,
        survey_channel,
        surveyed_at,
        (surveyed_at at time zone 'Asia/Shanghai')::date as surveyed_date,
        delivery_date
    from latest

)

select * from final
