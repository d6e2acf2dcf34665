{# One row per parallel approval step of a service case, by the day the step started
  . #}
with

steps as (

    select * from {{ ref('int_approval_steps_deduplicated') }}

),

final as (

    select
        case_id,
        step_no,
        department,
        started_at,
        {{ local_date('started_at') }} as started_date,
        finished_at,
        step_result,
        is_finished,
        is_case_known,
        step_hours::numeric(12, 4) as step_hours,
        delivery_date
    from steps

)

select * from final
