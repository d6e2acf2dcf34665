{# One row per grid incident by report day, from every usable delivery: a late incident of any
   age lands on its own report day with the next build. #}
with

incidents as (

    select * from {{ ref('int_grid_incidents_lifecycled') }}

),

final as (

    select
        incident_id,
        incident_source,
        is_proactive,
        category,
        community_code,
        grid_code,
        reporter_person_key,
        reported_at,
        reported_date,
        dispatched_at,
        resolved_at,
        closed_at,
        is_reopened,
        is_resolved,
        hours_to_dispatch::numeric(12, 4) as hours_to_dispatch,
        hours_to_resolve::numeric(12, 4) as hours_to_resolve,
        hours_to_close::numeric(12, 4) as hours_to_close,
        sla_hours,
        is_resolved_within_sla,
        delivery_date,
        first_delivered_date
    from incidents

)

select * from final
