{# One row per service case by submission day. #}
with

cases as (

    select * from {{ ref('int_service_cases_timelined') }}

),

final as (

    select
        case_id,
        applicant_person_key,
        service_type,
        channel,
        is_digital_channel,
        window_no,
        community_code,
        submitted_at,
        submitted_date,
        accepted_at,
        approval_started_at,
        approval_finished_at,
        completed_at,
        completed_date,
        is_completed,
        hours_to_accept::numeric(12, 4) as hours_to_accept,
        hours_to_complete::numeric(12, 4) as hours_to_complete,
        materials_count,
        visits,
        is_resubmitted,
        is_one_visit_completed,
        approval_steps::integer as approval_steps,
        approval_steps_finished::integer as approval_steps_finished,
        has_returned_step,
        approval_departments,
        delivery_date,
        first_delivered_date
    from cases

)

select * from final
