{# 一次办结率、平台使用率、投诉率 per community, street and district per month; formulas in _kpi__models.yml.
   A row for every community, street and district and every period with a registry snapshot or an
   event (the spine), zeros where nothing happened; residents of a period are the registered
   population of the latest snapshot on or before its last day. #}
with

cases as (

    select * from {{ ref('fct_service_cases') }}
    where submitted_date >= {{ warehouse_first_day() }}

),

complaints as (

    select * from {{ ref('fct_complaints') }}
    where created_date >= {{ warehouse_first_day() }}

),

population as (

    select * from {{ ref('fct_community_population') }}

),

geography as (

    select * from {{ ref('dim_geography') }}

),

periods as (

    select date_trunc('month', snapshot_date)::date as period_start from population
    union
    select date_trunc('month', submitted_date)::date from cases
    union
    select date_trunc('month', created_date)::date from complaints

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

case_counts as (

    select
        community_code,
        date_trunc('month', submitted_date)::date as period_start,
        count(*) as cases,
        count(*) filter (where is_completed) as completed_cases,
        count(*) filter (where is_one_visit_completed) as one_visit_completed_cases,
        count(*) filter (where is_digital_channel) as app_cases
    from cases
    group by 1, 2

),

complaint_counts as (

    select
        community_code,
        date_trunc('month', created_date)::date as period_start,
        count(*) as complaints
    from complaints
    group by 1, 2

),

per_community as (

    select
        spine.community_code,
        spine.street_code,
        spine.district_code,
        spine.period_start,
        spine.residents,
        coalesce(case_counts.cases, 0) as cases,
        coalesce(case_counts.completed_cases, 0) as completed_cases,
        coalesce(case_counts.one_visit_completed_cases, 0) as one_visit_completed_cases,
        coalesce(case_counts.app_cases, 0) as app_cases,
        coalesce(complaint_counts.complaints, 0) as complaints
    from spine
    left join case_counts
        on spine.community_code = case_counts.community_code
        and spine.period_start = case_counts.period_start
    left join complaint_counts
        on spine.community_code = complaint_counts.community_code
        and spine.period_start = complaint_counts.period_start

),

aggregated as (

    select
        {{ area_level() }} as area_level,
        {{ area_code() }} as area_code,
        period_start as kpi_month,
        sum(cases)::bigint as cases,
        sum(completed_cases)::bigint as completed_cases,
        sum(one_visit_completed_cases)::bigint as one_visit_completed_cases,
        {{ safe_ratio('sum(one_visit_completed_cases)', 'sum(completed_cases)') }} as one_visit_completion_rate,
        sum(app_cases)::bigint as app_cases,
        {{ safe_ratio('sum(app_cases)', 'sum(cases)') }} as digital_channel_share,
        sum(complaints)::bigint as complaints,
        sum(residents)::bigint as residents,
        {{ safe_ratio('sum(complaints)', 'sum(residents)', 1000) }} as complaints_per_1000_residents,
        {{ safe_ratio('sum(complaints)', 'sum(cases)', 100) }} as complaints_per_100_cases
    from per_community
    {{ group_by_area('period_start') }}

),

final as (

    select * from aggregated

)

select * from final
