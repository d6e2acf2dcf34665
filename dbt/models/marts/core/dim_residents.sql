{# Residents as of the run day: the golden record (int_residents_merged). Pseudonymous: keyed
   person_key, no names, phones, addresses or ID numbers. scoring.py reads this table. #}
with

residents as (

    select * from {{ ref('int_residents_merged') }}

),

final as (

    select
        person_key,
        as_of_date,
        gender,
        birth_date,
        age,
        community_code,
        grid_code,
        household_id,
        residence_type,
        attention_level,
        is_living_alone as lives_alone,
        is_on_assistance as on_assistance,
        is_on_minimum_living_allowance,
        assistance_types,
        assistance_amount,
        pension_monthly,
        medical_insurance_status,
        has_chronic_disease,
        chronic_disease,
        has_family_doctor,
        elderly_checkup_date,
        has_disability,
        disability_type,
        disability_grade,
        recent_incidents,
        recent_complaints,
        registry_snapshot_date
    from residents

)

select * from final
