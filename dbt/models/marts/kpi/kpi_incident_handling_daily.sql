{# 处理效率 per community, street and district per day; formulas in _kpi__models.yml.
   A row per area and period with at least one event. #}
with

incidents as (

    select * from {{ ref('fct_grid_incidents') }}
    where reported_date >= {{ warehouse_first_day() }}

),

geography as (

    select * from {{ ref('dim_geography') }}

),

located as (

    select
        incidents.*,
        geography.street_code,
        geography.district_code,
        incidents.reported_date as period_start
    from incidents
    inner join geography
        on incidents.community_code = geography.community_code

),

aggregated as (

    select
        {{ area_level() }} as area_level,
        {{ area_code() }} as area_code,
        period_start as kpi_date,
        count(*) as incidents,
        count(*) filter (where is_resolved) as resolved_incidents,
        round((percentile_cont(0.5) within group (order by hours_to_resolve))::numeric, 4)::numeric(14, 4)
            as median_hours_to_resolve,
        count(*) filter (where is_resolved_within_sla) as resolved_within_sla,
        {{ safe_ratio('count(*) filter (where is_resolved_within_sla)', 'count(*)') }} as within_sla_share
    from located
    {{ group_by_area('period_start') }}

),

final as (

    select * from aggregated

)

select * from final
