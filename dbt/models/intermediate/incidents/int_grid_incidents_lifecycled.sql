{# Grid-incident lifecycles: source, dispatch, resolve, close, reopen, with the category's SLA;
   the latest version of each incident over every usable delivery (late rows of any age land on
   their own report day), and the day it was first delivered (what was known as of a day). #}
with

incidents as (

    select * from {{ ref('stg_grid_incidents__incidents') }}
    where {{ is_usable_delivery('grid_incidents') }}

),

categories as (

    select * from {{ ref('incident_categories') }}

),

sources as (

    select * from {{ ref('incident_sources') }}

),

latest as (

    select distinct on (incident_id)
        *,
        min(delivery_date) over (partition by incident_id) as first_delivered_date
    from incidents
    order by incident_id, delivery_date desc, batch_id desc

),

lifecycled as (

    select
        latest.incident_id,
        latest.incident_source,
        coalesce(sources.is_proactive, false) as is_proactive,
        latest.category,
        latest.community_code,
        latest.grid_code,
        latest.reporter_person_key,
        latest.reported_at,
        {{ local_date('latest.reported_at') }} as reported_date,
        latest.dispatched_at,
        latest.resolved_at,
        latest.closed_at,
        latest.is_reopened,
        latest.resolved_at is not null as is_resolved,
        extract(epoch from latest.dispatched_at - latest.reported_at) / 3600.0 as hours_to_dispatch,
        extract(epoch from latest.resolved_at - latest.reported_at) / 3600.0 as hours_to_resolve,
        extract(epoch from latest.closed_at - latest.reported_at) / 3600.0 as hours_to_close,
        categories.sla_hours,
        coalesce(
            extract(epoch from latest.resolved_at - latest.reported_at) / 3600.0 <= categories.sla_hours, false
        ) as is_resolved_within_sla,
        latest.delivery_date,
        latest.first_delivered_date
    from latest
    left join categories
        on latest.category = categories.category
    left join sources
        on latest.incident_source = sources.incident_source

),

final as (

    select * from lifecycled

)

select * from final
