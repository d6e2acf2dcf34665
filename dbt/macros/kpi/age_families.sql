{# KPI families broken down by the age group of the resident concerned: the respondent of a
   satisfaction survey, the applicant of a service case (both keyed person_key, resolved from
   the ID number at staging). Age is counted on the event's day from the birth date the
   population registry gave for the person in its latest usable snapshot on or before that
   day: elderly is 60 or older (var elderly_age), under_60 younger, unknown when the registry
   had no record of the person by then (or the record had no person key). Every event also
   counts once under `all`, so a row for `all` and one for `elderly` sit side by side.
   Sparse: a row per area, period and age group with at least one event. Marts get the age
   group only, never a birth date. `grain` is 'day' or 'month'. #}

{# CTE body: (person_key, birth_date, known_from): each birth date the registry gave a person,
   from the first usable snapshot that gave it. Reads the registry alone (int_registry_daily),
   so the tables' publication lineage adds population_registry and nothing else. #}
{% macro registry_birth_dates() %}
    select
        person_key,
        birth_date,
        min(snapshot_date) as known_from
    from {{ ref('int_registry_daily') }}
    where birth_date is not null
    group by person_key, birth_date
{% endmacro %}

{# The age group of a person born on `birth_date` on `day` (either may be null → unknown). #}
{% macro age_group(birth_date, day) -%}
    case
        when {{ birth_date }} is null then 'unknown'
        when extract(year from age({{ day }}, {{ birth_date }})) >= {{ var('elderly_age') }} then 'elderly'
        else 'under_{{ var('elderly_age') }}'
    end
{%- endmacro %}

{# CTE body: the rows of `events` with their age_group, one row per `event_key`: the birth date
   known on the event's `day_column` (a hash join on person_key, then the latest known_from). #}
{% macro with_age_group(events, event_key, person_column, day_column) %}
    select distinct on ({{ events }}.{{ event_key }})
        {{ events }}.*,
        {{ age_group('birth_dates.birth_date', events ~ '.' ~ day_column) }} as age_group
    from {{ events }}
    left join birth_dates
        on {{ events }}.{{ person_column }} = birth_dates.person_key
        and birth_dates.known_from <= {{ events }}.{{ day_column }}
    order by {{ events }}.{{ event_key }}, birth_dates.known_from desc nulls last
{% endmacro %}

{% macro kpi_satisfaction_by_age(grain) %}
with

responses as (

    select * from {{ ref('fct_satisfaction_responses') }}
    where surveyed_date >= {{ warehouse_first_day() }}

),

birth_dates as (

    {{ registry_birth_dates() }}

),

geography as (

    select * from {{ ref('geography') }}

),

aged as (

    {{ with_age_group('responses', 'survey_id', 'respondent_person_key', 'surveyed_date') }}

),

{# Each response once under its age group and once under `all`. #}
grouped as (

    select survey_id, community_code, surveyed_date, score, is_satisfied, age_group from aged
    union all
    select survey_id, community_code, surveyed_date, score, is_satisfied, 'all' from aged

),

located as (

    select
        grouped.*,
        geography.street_code,
        geography.district_code,
        {{ kpi_period(grain, 'grouped.surveyed_date') }} as period_start
    from grouped
    inner join geography
        on grouped.community_code = geography.community_code

),

aggregated as (

    select
        {{ area_level() }} as area_level,
        {{ area_code() }} as area_code,
        period_start as {{ kpi_period_name(grain) }},
        age_group,
        count(*) as responses,
        round(avg(score), 4)::numeric(14, 4) as mean_score,
        count(*) filter (where is_satisfied) as satisfied_responses,
        {{ safe_ratio('count(*) filter (where is_satisfied)', 'count(*)') }} as satisfied_share
    from located
    {{ group_by_area('period_start, age_group') }}

),

final as (

    select * from aggregated

)

select * from final
{% endmacro %}

{% macro kpi_digital_channel_by_age(grain) %}
with

cases as (

    select * from {{ ref('fct_service_cases') }}
    where submitted_date >= {{ warehouse_first_day() }}

),

birth_dates as (

    {{ registry_birth_dates() }}

),

geography as (

    select * from {{ ref('geography') }}

),

aged as (

    {{ with_age_group('cases', 'case_id', 'applicant_person_key', 'submitted_date') }}

),

{# Each case once under its applicant's age group and once under `all`. #}
grouped as (

    select case_id, community_code, submitted_date, is_digital_channel, age_group from aged
    union all
    select case_id, community_code, submitted_date, is_digital_channel, 'all' from aged

),

located as (

    select
        grouped.*,
        geography.street_code,
        geography.district_code,
        {{ kpi_period(grain, 'grouped.submitted_date') }} as period_start
    from grouped
    inner join geography
        on grouped.community_code = geography.community_code

),

aggregated as (

    select
        {{ area_level() }} as area_level,
        {{ area_code() }} as area_code,
        period_start as {{ kpi_period_name(grain) }},
        age_group,
        count(*) as cases,
        count(*) filter (where is_digital_channel) as app_cases,
        {{ safe_ratio('count(*) filter (where is_digital_channel)', 'count(*)') }} as digital_channel_share
    from located
    {{ group_by_area('period_start, age_group') }}

),

final as (

    select * from aggregated

)

select * from final
{% endmacro %}
