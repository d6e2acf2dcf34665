{# 办事时长 per community, street and district per day; formulas in _kpi__models.yml.
   A row per area and period with at least one event. Completed cases only. #}
with

cases as (

    select * from {{ ref('fct_service_cases') }}
    where submitted_date >= {{ warehouse_first_day() }}

),

geography as (

    select * from {{ ref('dim_geography') }}

),

located as (

    select
        cases.*,
        geography.street_code,
        geography.district_code,
        cases.submitted_date as period_start
    from cases
    inner join geography
        on cases.community_code = geography.community_code
    where cases.is_completed

),

aggregated as (

    select
        {{ area_level() }} as area_level,
        {{ area_code() }} as area_code,
        period_start as kpi_date,
        service_type,
        count(*) as completed_cases,
        round((percentile_cont(0.5) within group (order by hours_to_complete))::numeric, 4)::numeric(14, 4)
            as median_hours_to_complete,
        round((percentile_cont(0.9) within group (order by hours_to_complete))::numeric, 4)::numeric(14, 4)
            as p90_hours_to_complete
    from located
    {{ group_by_area('period_start, service_type') }}

),

final as (

    select * from aggregated

)

select * from final
