{# KPI families with resident denominators: a row for every area and period in the spine
   (every community × every day, or month, with a registry snapshot or an event), zeros where
   nothing happened, ratios null where their denominator is 0. Residents of a period are the
   registered population of the latest registry snapshot on or before the period's last day.
   `grain` is 'day' or 'month'. #}

{# CTE body: (community_code, period_start, residents) for the given period starts. #}
{% macro kpi_resident_spine(grain, periods_cte) %}
    select
        geography.community_code,
        geography.street_code,
        geography.district_code,
        {{ periods_cte }}.period_start,
        population_then.residents
    from geography
    cross join {{ periods_cte }}
    left join lateral (
        select population.residents
        from population
        where
            population.community_code = geography.community_code
            and population.snapshot_date
            <= {% if grain == 'month' %}({{ periods_cte }}.period_start + interval '1 month - 1 day')::date
               {%- else %}{{ periods_cte }}.period_start{% endif %}
        order by population.snapshot_date desc
        limit 1
    ) as population_then on true
{% endmacro %}

{% macro kpi_service_cases(grain) %}
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

    select * from {{ ref('geography') }}

),

periods as (

    select {{ kpi_period(grain, 'snapshot_date') }} as period_start from population
    union
    select {{ kpi_period(grain, 'submitted_date') }} from cases
    union
    select {{ kpi_period(grain, 'created_date') }} from complaints

),

spine as (

    {{ kpi_resident_spine(grain, 'periods') }}

),

case_counts as (

    select
        community_code,
        {{ kpi_period(grain, 'submitted_date') }} as period_start,
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
        {{ kpi_period(grain, 'created_date') }} as period_start,
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
        period_start as {{ kpi_period_name(grain) }},
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
{% endmacro %}

{% macro kpi_community_engagement(grain) %}
with

participation as (

    select * from {{ ref('fct_participation') }}
    where activity_date >= {{ warehouse_first_day() }}

),

population as (

    select * from {{ ref('fct_community_population') }}

),

geography as (

    select * from {{ ref('geography') }}

),

periods as (

    select {{ kpi_period(grain, 'snapshot_date') }} as period_start from population
    union
    select {{ kpi_period(grain, 'activity_date') }} from participation

),

spine as (

    {{ kpi_resident_spine(grain, 'periods') }}

),

{# A participant is a linked resident; an unlinked record counts as one participant. #}
activity_counts as (

    select
        community_code,
        {{ kpi_period(grain, 'activity_date') }} as period_start,
        count(distinct person_key) + count(*) filter (where person_key is null) as participants,
        count(distinct item_id) as items_raised,
        count(distinct item_id) filter (where is_item_resolved) as items_resolved,
        coalesce(sum(volunteer_hours), 0) as volunteer_hours
    from participation
    group by 1, 2

),

per_community as (

    select
        spine.community_code,
        spine.street_code,
        spine.district_code,
        spine.period_start,
        spine.residents,
        coalesce(activity_counts.participants, 0) as participants,
        coalesce(activity_counts.items_raised, 0) as items_raised,
        coalesce(activity_counts.items_resolved, 0) as items_resolved,
        coalesce(activity_counts.volunteer_hours, 0) as volunteer_hours
    from spine
    left join activity_counts
        on spine.community_code = activity_counts.community_code
        and spine.period_start = activity_counts.period_start

),

aggregated as (

    select
        {{ area_level() }} as area_level,
        {{ area_code() }} as area_code,
        period_start as {{ kpi_period_name(grain) }},
        sum(participants)::bigint as participants,
        sum(residents)::bigint as residents,
        {{ safe_ratio('sum(participants)', 'sum(residents)') }} as participation_rate,
        sum(items_raised)::bigint as items_raised,
        sum(items_resolved)::bigint as items_resolved,
        {{ safe_ratio('sum(items_resolved)', 'sum(items_raised)') }} as deliberation_resolution_rate,
        sum(volunteer_hours)::numeric(14, 2) as volunteer_hours
    from per_community
    {{ group_by_area('period_start') }}

),

final as (

    select * from aggregated

)

select * from final
{% endmacro %}

{% macro kpi_community_resources(grain) %}
with

resources as (

    select * from {{ ref('fct_community_resources') }}
    where snapshot_date >= {{ warehouse_first_day() }}

),

population as (

    select * from {{ ref('fct_community_population') }}

),

geography as (

    select * from {{ ref('geography') }}

),

{# The period's figures are those of its latest snapshot (funds are month to date). #}
latest_in_period as (

    select distinct on (community_code, {{ kpi_period(grain, 'snapshot_date') }})
        community_code,
        {{ kpi_period(grain, 'snapshot_date') }} as period_start,
        snapshot_date,
        allocated_amount,
        spent_amount,
        staff
    from resources
    order by community_code, {{ kpi_period(grain, 'snapshot_date') }}, snapshot_date desc

),

periods as (

    select distinct period_start from latest_in_period

),

spine as (

    {{ kpi_resident_spine(grain, 'periods') }}

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
        period_start as {{ kpi_period_name(grain) }},
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
{% endmacro %}
