{# One row per 12345 hotline complaint by creation day, linked to caller, case and incident
  . #}
with

complaints as (

    select * from {{ ref('int_complaints_linked') }}

),

final as (

    select
        complaint_id,
        caller_person_key,
        caller_match_method,
        category,
        community_code,
        linked_case_id,
        is_linked_case_known,
        linked_incident_id,
        is_linked_incident_known,
        created_at,
        created_date,
        responded_at,
        closed_at,
        hours_to_respond::numeric(12, 4) as hours_to_respond,
        hours_to_close::numeric(12, 4) as hours_to_close,
        delivery_date,
        first_delivered_date
    from complaints

)

select * from final
