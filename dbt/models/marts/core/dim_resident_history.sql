{# Resident history (SCD type 2) from the residents snapshot: one row per resident and version.
   "Who was on 低保 on day D": valid_from_date <= D and (valid_to_date is null or valid_to_date > D)
   and is_on_minimum_living_allowance. #}
with

snapshot as (

    select * from {{ ref('residents_snapshot') }}

),

final as (

    select
        person_key,
        dbt_valid_from::date as valid_from_date,
        dbt_valid_to::date as valid_to_date,
        dbt_valid_to is null as is_current,
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
    from snapshot

)

select * from final
