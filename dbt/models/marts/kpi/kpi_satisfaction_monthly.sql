{# 群众满意度 per community, street and district per month; formulas in _kpi__models.yml.
   A row per area and period with at least one event. #}
with

responses as (

    select * from {{ ref('fct_satisfaction_responses') }}
    where surveyed_date >= {{ warehouse_first_day() }}

),

geography as (

    select * from {{ ref('dim_geography') }}

),

located as (

    select
        responses.*,
        geography.street_code,
        geography.district_code,
        date_trunc('month', responses.surveyed_date)::date as period_start
    from responses
    inner join geography
        on responses.community_code = geography.community_code

),

aggregated as (

    select
        {{ area_level() }} as area_level,
        {{ area_code() }} as area_code,
        period_start as kpi_month,
        count(*) as responses,
        round(avg(score), 4)::numeric(14, 4) as mean_score,
        count(*) filter (where is_satisfied) as satisfied_responses,
        {{ safe_ratio('count(*) filter (where is_satisfied)', 'count(*)') }} as satisfied_share
    from located
    {{ group_by_area('period_start') }}

),

final as (

    select * from aggregated

)

select * from final
