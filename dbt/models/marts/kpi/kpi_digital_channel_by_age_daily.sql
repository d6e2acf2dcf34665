{# 平台使用率 per community, street and district per day, by age group of the applicant; formulas in _kpi_by_age__models.yml.
   The age group is that of the person concerned on the event's day, from the birth date of the
   latest usable registry snapshot on or before it (unknown without one); every event also
   counts once under `all`. A row per area, period and age group with at least one event. #}
with

cases as (

    select * from {{ ref('fct_service_cases') }}
    where submitted_date >= {{ warehouse_first_day() }}

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

    select distinct on (cases.case_id)
        cases.*,
        {{ age_group('birth_dates.birth_date', 'cases.submitted_date') }} as age_group
    from cases
    left join birth_dates
        on cases.applicant_person_key = birth_dates.person_key
        and birth_dates.known_from <= cases.submitted_date
    order by cases.case_id, birth_dates.known_from desc nulls last

),

{# Each case once under its applicant's age group and once under `all`. #}
grouped as (

    select case_id, community_code, submitted_date, is_digital_channel, age_group from aged
    union all
    select case_id, community_code, submitted_date, is_digital_channel, 'all' as age_group from aged

),

located as (

    select
        grouped.*,
        geography.street_code,
        geography.district_code,
        grouped.submitted_date as period_start
    from grouped
    inner join geography
        on grouped.community_code = geography.community_code

),

aggregated as (

    select
        {{ area_level() }} as area_level,
        {{ area_code() }} as area_code,
        period_start as kpi_date,
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
