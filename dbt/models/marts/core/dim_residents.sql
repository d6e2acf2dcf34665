{# Residents as of the run day: the latest population snapshot on or before it, with
   assistance and pension status. Pseudonymous: keyed person_key, no direct identifiers. #}
with

residents as (

    select * from {{ ref('stg_population_registry__residents') }}

),

assistance as (

    select * from {{ ref('stg_social_assistance__cases') }}

),

pensions as (

    select * from {{ ref('stg_pension_insurance__pensions') }}

),

latest_residents as (

    select *
    from residents
    where snapshot_date = (
        select max(snapshot_date) from residents where snapshot_date <= {{ run_day() }}
    )

),

latest_pensions as (

    select *
    from pensions
    where snapshot_date = (
        select max(snapshot_date) from pensions where snapshot_date <= {{ run_day() }}
    )

),

active_assistance as (

    select
        person_key,
        sum(monthly_amount) as assistance_amount,
        string_agg(distinct assistance_type, ',' order by assistance_type) as assistance_types
    from (
        select distinct on (assistance_id) *
        from assistance
        where delivery_date <= {{ run_day() }}
        order by assistance_id, delivery_date desc
    ) as latest_cases
    where is_active
    group by person_key

),

final as (

    select
        latest_residents.person_key,
        latest_residents.gender,
        latest_residents.birth_date,
        extract(year from age({{ run_day() }}, latest_residents.birth_date))::integer as age,
        latest_residents.community_code,
        latest_residents.grid_code,
        latest_residents.residence_type,
        latest_residents.attention_level,
        latest_residents.is_living_alone as lives_alone,
        active_assistance.person_key is not null as on_assistance,
        coalesce(active_assistance.assistance_amount, 0) as assistance_amount,
        active_assistance.assistance_types,
        latest_pensions.pension_monthly,
        latest_residents.snapshot_date
    from latest_residents
    left join active_assistance
        on latest_residents.person_key = active_assistance.person_key
    left join latest_pensions
        on latest_residents.person_key = latest_pensions.person_key

)

select * from final
