{# Satisfaction responses, the latest version of each over every usable delivery, with what
   was rated (a service case or a grid incident). #}
with

surveys as (

    select * from {{ ref('stg_satisfaction_surveys__responses') }}
    where {{ is_usable_delivery('satisfaction_surveys') }}

),

latest as (

    select distinct on (survey_id) *
    from surveys
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
        {{ local_date('surveyed_at') }} as surveyed_date,
        delivery_date
    from latest

)

select * from final
