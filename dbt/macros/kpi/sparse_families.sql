{# KPI families whose denominator is events (incidents, responses, completed cases): a row per
   area and period with at least one event. `grain` is 'day' or 'month'. #}

{% macro kpi_proactive_discovery(grain) %}
with

incidents as (

    select * from {{ ref('fct_grid_incidents') }}
    where reported_date >= {{ warehouse_first_day() }}

),

geography as (

    select * from {{ ref('geography') }}

),

located as (

    select
        incidents.*,
        geography.street_code,
        geography.district_code,
        {{ kpi_period(grain, 'incidents.reported_date') }} as period_start
    from incidents
    inner join geography
        on incidents.community_code = geography.community_code

),

aggregated as (

    select
        {{ area_level() }} as area_level,
        {{ area_code() }} as area_code,
        period_start as {{ kpi_period_name(grain) }},
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
{% endmacro %}

{% macro kpi_incident_handling(grain) %}
with

incidents as (

    select * from {{ ref('fct_grid_incidents') }}
    where reported_date >= {{ warehouse_first_day() }}

),

geography as (

    select * from {{ ref('geography') }}

),

located as (

    select
        incidents.*,
        geography.street_code,
        geography.district_code,
        {{ kpi_period(grain, 'incidents.reported_date') }} as period_start
    from incidents
    inner join geography
        on incidents.community_code = geography.community_code

),

aggregated as (

    select
        {{ area_level() }} as area_level,
        {{ area_code() }} as area_code,
        period_start as {{ kpi_period_name(grain) }},
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
{% endmacro %}

{% macro kpi_satisfaction(grain) %}
with

responses as (

    select * from {{ ref('fct_satisfaction_responses') }}
    where surveyed_date >= {{ warehouse_first_day() }}

),

geography as (

    select * from {{ ref('geography') }}

),

located as (

    select
        responses.*,
        geography.street_code,
        geography.district_code,
        {{ kpi_period(grain, 'responses.surveyed_date') }} as period_start
    from responses
    inner join geography
        on responses.community_code = geography.community_code

),

aggregated as (

    select
        {{ area_level() }} as area_level,
        {{ area_code() }} as area_code,
        period_start as {{ kpi_period_name(grain) }},
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
{% endmacro %}

{% macro kpi_service_duration(grain) %}
with

cases as (

    select * from {{ ref('fct_service_cases') }}
    where submitted_date >= {{ warehouse_first_day() }}

),

geography as (

    select * from {{ ref('geography') }}

),

located as (

    select
        cases.*,
        geography.street_code,
        geography.district_code,
        {{ kpi_period(grain, 'cases.submitted_date') }} as period_start
    from cases
    inner join geography
        on cases.community_code = geography.community_code
    where cases.is_completed

),

aggregated as (

    select
        {{ area_level() }} as area_level,
        {{ area_code() }} as area_code,
        period_start as {{ kpi_period_name(grain) }},
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
{% endmacro %}
