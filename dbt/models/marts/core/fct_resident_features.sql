{# Residents as the warehouse knew them on the run day (var ds), one row per resident and
   as_of_date: the golden record of the latest usable registry day on or before it, with the
   incidents reported and complaints made in the var('recent_days') days up to it that had been
   delivered by then. fct_resident_risk_features derives the scoring features from it and the
   scoring DAG reads one as_of_date, so rerunning scoring for an earlier day reproduces that
   day's tiers whatever was loaded since. Incremental: a run replaces its own as_of_date only
   (strategy day_window with no look-back). #}
{{ config(materialized='incremental', incremental_strategy='day_window', day_column='as_of_date',
          lookback_days=0, on_schema_change='fail') }}
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

as_of as (

    select
        {{ run_day() }} as as_of_date,
        (select max(daily.snapshot_date) from daily where daily.snapshot_date <= {{ run_day() }})
            as registry_snapshot_date

),

residents as (

    select daily.*
    from daily
    inner join as_of
        on daily.snapshot_date = as_of.registry_snapshot_date

),

recent_incidents as (

    select
        incidents.reporter_person_key as person_key,
        count(*) as recent_incidents
    from incidents
    cross join as_of
    where
        incidents.reporter_person_key is not null
        and incidents.first_delivered_date <= as_of.as_of_date
        and incidents.reported_date between as_of.as_of_date - {{ var('recent_days') }} + 1 and as_of.as_of_date
    group by incidents.reporter_person_key

),

recent_complaints as (

    select
        complaints.caller_person_key as person_key,
        count(*) as recent_complaints
    from complaints
    cross join as_of
    where
        complaints.caller_person_key is not null
        and complaints.first_delivered_date <= as_of.as_of_date
        and complaints.created_date between as_of.as_of_date - {{ var('recent_days') }} + 1 and as_of.as_of_date
    group by complaints.caller_person_key

),

final as (

    select
        as_of.as_of_date,
        residents.person_key,
        residents.snapshot_date as registry_snapshot_date,
        extract(year from age(as_of.as_of_date, residents.birth_date))::integer as age,
        residents.community_code,
        residents.grid_code,
        residents.attention_level,
        residents.is_living_alone as lives_alone,
        residents.is_on_assistance as on_assistance,
        residents.assistance_amount,
        residents.pension_monthly,
        residents.has_chronic_disease,
        residents.has_disability,
        residents.disability_grade,
        coalesce(recent_incidents.recent_incidents, 0)::integer as recent_incidents,
        coalesce(recent_complaints.recent_complaints, 0)::integer as recent_complaints
    from residents
    cross join as_of
    left join recent_incidents
        on residents.person_key = recent_incidents.person_key
    left join recent_complaints
        on residents.person_key = recent_complaints.person_key

)

select * from final
