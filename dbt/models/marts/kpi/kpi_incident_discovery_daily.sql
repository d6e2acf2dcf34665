{# 问题发现率 proactive discovery rate per community and report day. #}
with

incidents as (

    select * from {{ ref('fct_grid_incidents') }}

),

geography as (

    select * from {{ ref('geography') }}

),

per_community_day as (

    select
        community_code,
        reported_date,
        count(*) as incidents,
        count(*) filter (where is_proactive) as proactive_incidents
    from incidents
    group by community_code, reported_date

),

final as (

    select
        per_community_day.community_code,
        geography.street_code,
        geography.district_code,
        per_community_day.reported_date,
        per_community_day.incidents,
        per_community_day.proactive_incidents,
        round(per_community_day.proactive_incidents::numeric / per_community_day.incidents, 4)
            as proactive_discovery_rate
    from per_community_day
    inner join geography
        on per_community_day.community_code = geography.community_code

)

select * from final
