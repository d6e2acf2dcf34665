{# Resident history (SCD type 2) from the registry days of int_residents_daily: one row per
   resident and version. A version starts on the first registry day its attributes held and ends
   (valid_to_date) on the next registry day they no longer did, whether they changed or the
   resident left the registry. Built from the snapshots by their day, never by run order: days
   run out of order, backfilled or rebuilt twice give the same history.
   "Who was on 低保 on day D": valid_from_date <= D and (valid_to_date is null or valid_to_date > D)
   and is_on_minimum_living_allowance. #}
with

daily as (

    select * from {{ ref('int_residents_daily') }}

),

registry_days as (

    select
        snapshot_date,
        row_number() over (order by snapshot_date) as day_number
    from (select distinct snapshot_date from daily) as days

),

fingerprinted as (

    select
        daily.*,
        registry_days.day_number,
        md5(row(
            daily.gender, daily.birth_date, daily.community_code, daily.grid_code, daily.household_id,
            daily.residence_type, daily.attention_level, daily.is_living_alone, daily.is_on_assistance,
            daily.is_on_minimum_living_allowance, daily.assistance_types, daily.assistance_amount,
            daily.pension_monthly, daily.medical_insurance_status, daily.has_chronic_disease,
            daily.chronic_disease, daily.has_disability, daily.disability_type, daily.disability_grade
        )::text) as attributes_hash
    from daily
    inner join registry_days
        on daily.snapshot_date = registry_days.snapshot_date

),

{# A new version where the resident was absent the registry day before or the attributes changed. #}
changes as (

    select
        *,
        case
            when lag(day_number) over by_person = day_number - 1
                and lag(attributes_hash) over by_person = attributes_hash then 0
            else 1
        end as starts_version
    from fingerprinted
    window by_person as (partition by person_key order by day_number)

),

numbered as (

    select
        *,
        sum(starts_version) over (partition by person_key order by day_number) as version_number
    from changes

),

versions as (

    select distinct on (person_key, version_number)
        person_key,
        version_number,
        min(snapshot_date) over version_days as valid_from_date,
        max(day_number) over version_days as last_day_number,
        gender,
        birth_date,
        community_code,
        grid_code,
        household_id,
        residence_type,
        attention_level,
        is_living_alone,
        is_on_assistance,
        is_on_minimum_living_allowance,
        assistance_types,
        assistance_amount,
        pension_monthly,
        medical_insurance_status,
        has_chronic_disease,
        chronic_disease,
        has_disability,
        disability_type,
        disability_grade
    from numbered
    window version_days as (partition by person_key, version_number)
    order by person_key, version_number, day_number

),

final as (

    select
        versions.person_key,
        versions.valid_from_date,
        next_day.snapshot_date as valid_to_date,
        next_day.snapshot_date is null as is_current,
        versions.gender,
        versions.birth_date,
        versions.community_code,
        versions.grid_code,
        versions.household_id,
        versions.residence_type,
        versions.attention_level,
        versions.is_living_alone,
        versions.is_on_assistance,
        versions.is_on_minimum_living_allowance,
        versions.assistance_types,
        versions.assistance_amount,
        versions.pension_monthly,
        versions.medical_insurance_status,
        versions.has_chronic_disease,
        versions.chronic_disease,
        versions.has_disability,
        versions.disability_type,
        versions.disability_grade
    from versions
    left join registry_days as next_day
        on versions.last_day_number + 1 = next_day.day_number

)

select * from final
