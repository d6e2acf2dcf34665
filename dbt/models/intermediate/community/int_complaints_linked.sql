{# Hotline complaints linked to their caller (int_complaint_callers_matched), and to the service
   case and grid incident they are about; the latest version over every usable delivery. #}
with

complaints as (

    select * from {{ ref('stg_hotline_complaints__complaints') }}
    where {{ is_usable_delivery('hotline_complaints') }}

),

callers as (

    select * from {{ ref('int_complaint_callers_matched') }}

),

cases as (

    select * from {{ ref('int_service_cases_timelined') }}

),

incidents as (

    select * from {{ ref('int_grid_incidents_lifecycled') }}

),

latest as (

    select distinct on (complaint_id)
        *,
        min(delivery_date) over (partition by complaint_id) as first_delivered_date
    from complaints
    order by complaint_id, delivery_date desc, batch_id desc

),

linked as (

    select
        latest.complaint_id,
        callers.person_key as caller_person_key,
        callers.match_method as caller_match_method,
        latest.category,
        latest.community_code,
        latest.linked_case_id,
        cases.case_id is not null as is_linked_case_known,
        latest.linked_incident_id,
        incidents.incident_id is not null as is_linked_incident_known,
        latest.created_at,
        {{ local_date('latest.created_at') }} as created_date,
        latest.responded_at,
        latest.closed_at,
        extract(epoch from latest.responded_at - latest.created_at) / 3600.0 as hours_to_respond,
        extract(epoch from latest.closed_at - latest.created_at) / 3600.0 as hours_to_close,
        latest.delivery_date,
        latest.first_delivered_date
    from latest
    left join callers
        on latest.complaint_id = callers.complaint_id
        and latest.delivery_date = callers.delivery_date
    left join cases
        on latest.linked_case_id = cases.case_id
    left join incidents
        on latest.linked_incident_id = incidents.incident_id

),

final as (

    select * from linked

)

select * from final
