{# 问题发现率 proactive discovery rate per community and report day: the community rows of
   kpi_proactive_discovery_daily in the shape BI and the quality suites already read. #}
with

discovery as (

    select * from {{ ref('kpi_proactive_discovery_daily') }}

),

geography as (

    select * from {{ ref('geography') }}

),

final as (

    select
        discovery.area_code as community_code,
        geography.street_code,
        geography.district_code,
        discovery.kpi_date as reported_date,
        discovery.incidents,
        discovery.proactive_incidents,
        discovery.proactive_discovery_rate
    from discovery
    inner join geography
        on discovery.area_code = geography.community_code
    where discovery.area_level = 'community'

)

select * from final
