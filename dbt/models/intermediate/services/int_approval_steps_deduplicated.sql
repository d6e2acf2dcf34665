{# Approval steps, the latest version of each (case, step) over every usable delivery. #}
with

steps as (

    select * from {{ ref('stg_approval_steps__steps') }}
    where {{ is_usable_delivery('approval_steps') }}

),

cases as (

    select * from {{ ref('stg_service_applications__cases') }}
    where {{ is_usable_delivery('service_applications') }}

),

known_cases as (

    select distinct case_id
    from cases

),

latest as (

    select distinct on (case_id, step_no) *
    from steps
    order by case_id, step_no, delivery_date desc, batch_id desc

),

final as (

    select
        case_id,
        step_no,
        department,
        started_at,
        finished_at,
        step_result,
        finished_at is not null as is_finished,
        case_id in (select known_cases.case_id from known_cases) as is_case_known,
        extract(epoch from finished_at - started_at) / 3600.0 as step_hours,
        delivery_date
    from latest

)

select * from final
