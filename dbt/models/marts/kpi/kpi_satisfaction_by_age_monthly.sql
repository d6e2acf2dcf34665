{# 群众满意度 per community, street and district per month, by age group of the respondent; formulas in _kpi_by_age__models.yml.
   The age group is that of the person concerned on the event's day, from the birth date of the
   latest usable registry snapshot on or before it (unknown without one); every event also
   counts once under `all`. A row per area, period and age group with at least one event. #}
with

responses as (

    select * from {{ ref('fct_satisfaction_responses') }}
    where surveyed_date >= {{ warehouse_first_day() }}

),

{# Each birth date the registry gave a person, from the first usable snapshot that gave it. Reads
   the registry alone (int_registry_daily), so the table's publication lineage adds
   population_registry and nothing else. #}
birth_dates as (

    select
        person_key,
        birth_date,
        min(snapshot_date) as known_from
    from {{ ref('int_registry_daily') }}
    where birth_date is not null
    group by person_key, birth_date

),

geography as (

    select * from {{ ref('dim_geography') }}

),

{# One row per event with the birth date known on its day: a hash join on person_key, then the
   latest known_from. #}
aged as (

    select distinct on (responses.survey_id)
        responses.*,
        {{ age_group('birth_dates.birth_date', 'responses.surveyed_date') }} as age_group
    from responses
    left join birth_dates
        on responses.respondent_person_key = birth_dates.person_key
        and birth_dates.known_from <= responses.surveyed_date
    order by responses.survey_id, birth_dates.known_from desc nulls last

),

{# Each response once under its age group and once under `all`. #}
grouped as (

    select survey_id, community_code, surveyed_date, score, is_satisfied, age_group from aged
    union all
    select survey_id, community_code, surveyed_date, score, is_satisfied, 'all' as age_group from aged

),

located as (

    select
        grouped.*,
        geography.street_code,
        geography.district_code,
        date_trunc('month', grouped.surveyed_date)::date as period_start
    from grouped
    inner join geography
        on grouped.community_code = geography.community_code

),

aggregated as (

    select
        {{ area_level() }} as area_level,
        {{ area_code() }} as area_code,
        period_start as kpi_month,
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
