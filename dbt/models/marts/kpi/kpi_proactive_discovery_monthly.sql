{# 问题发现率 per community, street and district per month; formulas in _kpi__models.yml.
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
        date_trunc('month', incidents.reported_date)::date as period_start
    from incidents
    inner join geography
        on incidents.community_code = geography.community_code

),

aggregated as (

    select
        {{ area_level() }} as area_level,
        {{ area_code() }} as area_code,
        period_start as kpi_month,
        count(*) as incidents,
        count(*) filter (where is_proactive) as proactive_incidents,
        {{ safe_ratio('count(*) filter (where is_proactive)', 'count(*)') }} as proactive_discovery_rate
    from located
    {{ group_by_area('period_start') }}

),

final as (

    select * from aggregated

)

select * from final
