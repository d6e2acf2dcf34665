{# Residents as of the latest usable registry day: the golden record (int_residents_daily) with
   their recent incidents and complaints up to that day. Pseudonymous: keyed person_key, no
   names, phones, addresses or ID numbers. The residents as of any day are fct_resident_features,
   their scoring features fct_resident_risk_features. #}
with

{# Not materialized: read through int_residents_daily's snapshot_date index (one day), not copied whole. #}
daily as not materialized (

    select * from {{ ref('int_residents_daily') }}

),

incidents as (

    select * from {{ ref('fct_grid_incidents') }}

),

complaints as (

    select * from {{ ref('fct_complaints') }}

),

latest as (

    select * from daily
    where snapshot_date = (select max(snapshot_date) from daily)

),

recent_incidents as (

    select
        incidents.reporter_person_key as person_key,
        count(*) as recent_incidents
    from incidents
    where
        incidents.reporter_person_key is not null
        and incidents.first_delivered_date <= (select max(snapshot_date) from daily)
        and incidents.reported_date between (select max(snapshot_date) from daily) - {{ var('recent_days') }} + 1
        and (select max(snapshot_date) from daily)
    group by incidents.reporter_person_key

),

recent_complaints as (

    select
        complaints.caller_person_key as person_key,
        count(*) as recent_complaints
    from complaints
    where
        complaints.caller_person_key is not null
        and complaints.first_delivered_date <= (select max(snapshot_date) from daily)
        and complaints.created_date between (select max(snapshot_date) from daily) - {{ var('recent_days') }} + 1
        and (select max(snapshot_date) from daily)
    group by complaints.caller_person_key

),

final as (

    select
        latest.person_key,
        latest.snapshot_date as as_of_date,
        latest.gender,
        latest.birth_date,
        latest.age,
        latest.community_code,
        latest.grid_code,
        latest.household_id,
        latest.residence_type,
        latest.attention_level,
        latest.is_living_alone as lives_alone,
        latest.is_on_assistance as on_assistance,
        latest.is_on_minimum_living_allowance,
        latest.assistance_types,
        latest.assistance_amount,
        latest.pension_monthly,
        latest.medical_insurance_status,
        latest.has_chronic_disease,
        latest.chronic_disease,
        latest.has_family_doctor,
        latest.elderly_checkup_date,
        latest.has_disability,
        latest.disability_type,
        latest.disability_grade,
        coalesce(recent_incidents.recent_incidents, 0)::integer as recent_incidents,
        coalesce(recent_complaints.recent_complaints, 0)::integer as recent_complaints,
        latest.snapshot_date as registry_snapshot_date
    from latest
    left join recent_incidents
        on latest.person_key = recent_incidents.person_key
    left join recent_complaints
        on latest.person_key = recent_complaints.person_key

)

select * from final
