{# The resident golden record as of the run day: one row per resident in the latest population
   registry snapshot on or before it, with every department's view of them. Precedence per
   attribute is documented in _residents__models.yml. No names, phones or ID numbers. #}
with

residents as (

    select * from {{ ref('stg_population_registry__residents') }}

),

load_batches as (

    select * from {{ source('meta', 'load_batch') }}

),

assistance as (

    select * from {{ ref('stg_social_assistance__cases') }}

),

pensions as (

    select * from {{ ref('stg_pension_insurance__pensions') }}

),

health as (

    select * from {{ ref('stg_health_records__health_records') }}

),

disability as (

    select * from {{ ref('stg_disability_registry__certificates') }}

),

incidents as (

    select * from {{ ref('stg_grid_incidents__incidents') }}

),

callers as (

    select * from {{ ref('int_complaint_callers_matched') }}

),

complaints as (

    select * from {{ ref('stg_hotline_complaints__complaints') }}

),

latest_registry as (

    select *
    from residents
    where snapshot_date = (
        -- the ledger, not max() over the staging table, which would read a partition per day
        select max(ds)
        from load_batches
        where feed = 'population_registry' and status = 'loaded' and rows_loaded > 0 and ds <= {{ run_day() }}
    )

),

latest_assistance_cases as (

    select distinct on (assistance_id) *
    from assistance
    where delivery_date <= {{ run_day() }}
    order by assistance_id, delivery_date desc, batch_id desc

),

active_assistance as (

    select
        person_key,
        sum(monthly_amount) as assistance_amount,
        string_agg(distinct assistance_type, ',' order by assistance_type) as assistance_types,
        bool_or(assistance_type = '低保') as is_on_minimum_living_allowance
    from latest_assistance_cases
    where
        is_active
        and (start_date is null or start_date <= {{ run_day() }})
        and (end_date is null or end_date >= {{ run_day() }})
    group by person_key

),

latest_pensions as (

    select *
    from pensions
    where snapshot_date = (
        select max(snapshot_date) from pensions where snapshot_date <= {{ run_day() }}
    )

),

latest_health as (

    select *
    from health
    where snapshot_date = (
        select max(snapshot_date) from health where snapshot_date <= {{ run_day() }}
    )

),

latest_disability as (

    select distinct on (person_key) *
    from disability
    where snapshot_date = (
        select max(snapshot_date) from disability where snapshot_date <= {{ run_day() }}
    )
    order by person_key, disability_grade, disability_card_no

),

recent_incidents as (

    select
        reporter_person_key as person_key,
        count(distinct incident_id) as recent_incidents
    from incidents
    where
        reporter_person_key is not null
        and delivery_date <= {{ run_day() }}
        and (reported_at at time zone 'Asia/Shanghai')::date
        between {{ run_day() }} - {{ var('recent_days') }} + 1 and {{ run_day() }}
    group by reporter_person_key

),

recent_complaints as (

    select
        callers.person_key,
        count(distinct complaints.complaint_id) as recent_complaints
    from complaints
    inner join callers
        on complaints.complaint_id = callers.complaint_id
        and complaints.delivery_date = callers.delivery_date
    where
        callers.person_key is not null
        and complaints.delivery_date <= {{ run_day() }}
        and (complaints.created_at at time zone 'Asia/Shanghai')::date
        between {{ run_day() }} - {{ var('recent_days') }} + 1 and {{ run_day() }}
    group by callers.person_key

),

merged as (

    select
        latest_registry.person_key,
        {{ run_day() }} as as_of_date,
        {{ run_day() }}::timestamp as as_of_timestamp,
        latest_registry.gender,
        latest_registry.birth_date,
        extract(year from age({{ run_day() }}, latest_registry.birth_date))::integer as age,
        coalesce(latest_registry.community_code, latest_health.community_code, latest_disability.community_code)
            as community_code,
        latest_registry.grid_code,
        latest_registry.household_id,
        latest_registry.residence_type,
        latest_registry.attention_level,
        latest_registry.is_living_alone,
        active_assistance.person_key is not null as is_on_assistance,
        coalesce(active_assistance.is_on_minimum_living_allowance, false) as is_on_minimum_living_allowance,
        active_assistance.assistance_types,
        coalesce(active_assistance.assistance_amount, 0)::numeric(14, 2) as assistance_amount,
        latest_pensions.pension_monthly,
        latest_pensions.medical_insurance_status,
        latest_pensions.certification_date,
        coalesce(latest_health.has_chronic_disease, false) as has_chronic_disease,
        latest_health.chronic_disease,
        coalesce(latest_health.has_family_doctor, false) as has_family_doctor,
        latest_health.elderly_checkup_date,
        latest_disability.person_key is not null as has_disability,
        latest_disability.disability_type,
        latest_disability.disability_grade,
        coalesce(recent_incidents.recent_incidents, 0)::integer as recent_incidents,
        coalesce(recent_complaints.recent_complaints, 0)::integer as recent_complaints,
        latest_registry.snapshot_date as registry_snapshot_date
    from latest_registry
    left join active_assistance
        on latest_registry.person_key = active_assistance.person_key
    left join latest_pensions
        on latest_registry.person_key = latest_pensions.person_key
    left join latest_health
        on latest_registry.person_key = latest_health.person_key
    left join latest_disability
        on latest_registry.person_key = latest_disability.person_key
    left join recent_incidents
        on latest_registry.person_key = recent_incidents.person_key
    left join recent_complaints
        on latest_registry.person_key = recent_complaints.person_key

),

final as (

    select * from merged

)

select * from final
