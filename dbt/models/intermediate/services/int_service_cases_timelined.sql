{# Service-case timelines: submitted → accepted → parallel approval steps → completed, with
   visits, materials and channel; the latest version of each case over every usable delivery. #}
with

cases as (

    select * from {{ ref('stg_service_applications__cases') }}
    where {{ is_usable_delivery('service_applications') }}

),

steps as (

    select * from {{ ref('int_approval_steps_deduplicated') }}

),

latest_cases as (

    select distinct on (case_id)
        *,
        min(delivery_date) over (partition by case_id) as first_delivered_date
    from cases
    order by case_id, delivery_date desc, batch_id desc

),

step_summary as (

    select
        case_id,
        count(*) as approval_steps,
        count(*) filter (where is_finished) as approval_steps_finished,
        bool_or(step_result in ('退回', '不通过')) as has_returned_step,
        string_agg(department, ',' order by step_no) as approval_departments,
        min(started_at) as approval_started_at,
        case when bool_and(is_finished) then max(finished_at) end as approval_finished_at
    from steps
    group by case_id

),

timelined as (

    select
        latest_cases.case_id,
        latest_cases.applicant_person_key,
        latest_cases.service_type,
        latest_cases.channel,
        latest_cases.channel = 'app' as is_digital_channel,
        latest_cases.window_no,
        latest_cases.community_code,
        latest_cases.submitted_at,
        {{ local_date('latest_cases.submitted_at') }} as submitted_date,
        latest_cases.accepted_at,
        step_summary.approval_started_at,
        step_summary.approval_finished_at,
        latest_cases.completed_at,
        {{ local_date('latest_cases.completed_at') }} as completed_date,
        latest_cases.completed_at is not null as is_completed,
        extract(epoch from latest_cases.accepted_at - latest_cases.submitted_at) / 3600.0 as hours_to_accept,
        extract(epoch from latest_cases.completed_at - latest_cases.submitted_at) / 3600.0 as hours_to_complete,
        latest_cases.materials_count,
        latest_cases.visits,
        latest_cases.is_resubmitted,
        latest_cases.completed_at is not null
        and latest_cases.visits <= 1
        and not latest_cases.is_resubmitted as is_one_visit_completed,
        coalesce(step_summary.approval_steps, 0) as approval_steps,
        coalesce(step_summary.approval_steps_finished, 0) as approval_steps_finished,
        coalesce(step_summary.has_returned_step, false) as has_returned_step,
        step_summary.approval_departments,
        latest_cases.delivery_date,
        latest_cases.first_delivered_date
    from latest_cases
    left join step_summary
        on latest_cases.case_id = step_summary.case_id

),

final as (

    select * from timelined

)

select * from final
