{# One row per incident: its latest delivered state up to the run day. #}
with

incidents as (

    select * from {{ ref('stg_grid_incidents__incidents') }}

),

latest as (

    select distinct on (incident_id) *
    from incidents
    where delivery_date <= {{ run_day() }}
    order by incident_id, delivery_date desc, batch_id desc

),

final as (

    select
        incident_id,
        incident_source,
        incident_source in ('ai_camera', 'iot_sensor', 'grid_patrol') as is_proactive,
        category,
        community_code,
        grid_code,
        reported_at,
        (reported_at at time zone 'Asia/Shanghai')::date as reported_date,
        dispatched_at,
        resolved_at,
        closed_at,
        is_reopened,
        extract(epoch from resolved_at - reported_at) / 3600.0 as hours_to_resolve
    from latest

)

select * from final
