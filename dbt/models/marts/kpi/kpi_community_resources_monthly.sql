{# 资金使用效率、人员配置合理性 per community, street and district per month; formulas in _kpi__models.yml.
   A row for every community, street and district and every period with a resources
   snapshot (the spine), zeros where nothing happened; residents of a period are the registered
   population of the latest snapshot on or before its last day. #}
with

resources as (

    select * from {{ ref('fct_community_resources') }}
    where snapshot_date >= {{ warehouse_first_day() }}

),

population as (

    select * from {{ ref('fct_community_population') }}

),

geography as (

    select * from {{ ref('dim_geography') }}

),

{# The period's figures are those of its latest snapshot (funds are month to date). #}
latest_in_period as (

    select distinct on (community_code, date_trunc('month', snapshot_date)::date)
        community_code,
        date_trunc('month', snapshot_date)::date as period_start,
        snapshot_date,
        allocated_amount,
        spent_amount,
        staff
    from resources
    order by community_code, date_trunc('month', snapshot_date)::date, snapshot_date desc

),

periods as (

    select distinct period_start from latest_in_period

),

spine as (

    select
        geography.community_code,
        geography.street_code,
        geography.district_code,
        periods.period_start,
        population_then.residents
    from geography
    cross join periods
    left join lateral (
        select population.residents
        from population
        where
            population.community_code = geography.community_code
            and population.snapshot_date <= (periods.period_start + interval '1 month - 1 day')::date
        order by population.snapshot_date desc
        limit 1
    ) as population_then on true

),

per_community as (

    select
        spine.community_code,
        spine.street_code,
        spine.district_code,
        spine.period_start,
        spine.residents,
        coalesce(latest_in_period.allocated_amount, 0) as allocated_amount,
        coalesce(latest_in_period.spent_amount, 0) as spent_amount,
        coalesce(latest_in_period.staff, 0) as staff
    from spine
    left join latest_in_period
        on spine.community_code = latest_in_period.community_code
        and spine.period_start = latest_in_period.period_start

),

aggregated as (

    select
        {{ area_level() }} as area_level,
        {{ area_code() }} as area_code,
        period_start as kpi_month,
        sum(allocated_amount)::numeric(16, 2) as allocated_amount,
        sum(spent_amount)::numeric(16, 2) as spent_amount,
        {{ safe_ratio('sum(spent_amount)', 'sum(allocated_amount)') }} as fund_utilisation,
        sum(staff)::bigint as staff,
        sum(residents)::bigint as residents,
        {{ safe_ratio('sum(residents)', 'sum(staff)') }} as residents_per_staff
    from per_community
    {{ group_by_area('period_start') }}

),

final as (

    select * from aggregated

)

select * from final
