{# The resident golden record per registry day: one row per person in each usable
   population_registry snapshot, with every department's view of them as it stood on that day
   (precedence per attribute in _residents__models.yml). Built from deliveries by their day,
   never by run order, so running days out of order or twice gives the same rows. The history
   (dim_resident_history), today's residents (dim_residents) and the scoring features
   (fct_resident_features) read it. No names, phones, addresses or ID numbers.
   Incremental (day_window from the run day, or from the first day of a delivery of its feeds that
   changed since the last build): a registry day's rows read that day's registry and the
   snapshots they take, so a build reads the days it rebuilds; civil affairs' cases are versioned
   by delivery and read whole. #}
{% set feeds = ['population_registry', 'pension_insurance', 'health_records', 'disability_registry',
                'social_assistance'] %}
{{ config(materialized='incremental', incremental_strategy='day_window', day_column='snapshot_date',
          input_feeds=feeds,
          post_hook="{{ day_window_remember_inputs(['population_registry', 'pension_insurance', "
                    "'health_records', 'disability_registry', 'social_assistance']) }}",
          indexes=[{'columns': ['snapshot_date']}], on_schema_change='fail') }}
with

registry as (

    select * from {{ ref('int_registry_daily') }}
    {% if is_incremental() %}where snapshot_date >= {{ day_window_first_day(feeds) }}{% endif %}

),

assistance as (

    select * from {{ ref('stg_social_assistance__cases') }}
    where {{ is_usable_delivery('social_assistance') }}

),

registry_days as (

    select distinct snapshot_date from registry

),

{# For each registry day, the latest usable snapshot of the other snapshot feeds on or before it
   that has rows (a probe of one partition per usable day, not a scan of every day). #}
{% set snapshot_feeds = [
    ('pension', 'pension_insurance', 'stg_pension_insurance__pensions'),
    ('health', 'health_records', 'stg_health_records__health_records'),
    ('disability', 'disability_registry', 'stg_disability_registry__certificates'),
] %}
{% for name, feed, model in snapshot_feeds %}
{{ name }}_days as (

    select usable.delivery_date as snapshot_date
    from {{ ref('int_feed_days_assessed') }} as usable
    where
        usable.feed = '{{ feed }}'
        and usable.is_usable
        and usable.delivery_date <= (select max(registry_days.snapshot_date) from registry_days)
        and {{ delivery_has_rows(model, 'usable.delivery_date') }}

),

{% endfor %}
source_days as (

    select
        registry_days.snapshot_date,
        (select max(pension_days.snapshot_date) from pension_days
         where pension_days.snapshot_date <= registry_days.snapshot_date) as pension_date,
        (select max(health_days.snapshot_date) from health_days
         where health_days.snapshot_date <= registry_days.snapshot_date) as health_date,
        (select max(disability_days.snapshot_date) from disability_days
         where disability_days.snapshot_date <= registry_days.snapshot_date) as disability_date
    from registry_days

),

{# The snapshots those days take, read from the earliest of them on (partitions pruned). #}
pensions as (

    select * from {{ ref('stg_pension_insurance__pensions') }}
    where snapshot_date >= (select min(source_days.pension_date) from source_days)

),

health as (

    select * from {{ ref('stg_health_records__health_records') }}
    where snapshot_date >= (select min(source_days.health_date) from source_days)

),

disability as (

    select * from {{ ref('stg_disability_registry__certificates') }}
    where snapshot_date >= (select min(source_days.disability_date) from source_days)

),

{# Civil affairs cases are versioned by delivery: a version holds from its delivery day until
   the case is delivered again. #}
assistance_versions as (

    select
        *,
        lead(delivery_date) over (partition by assistance_id order by delivery_date) as next_delivery_date
    from (
        select distinct on (assistance_id, delivery_date) *
        from assistance
        order by assistance_id, delivery_date, batch_id desc, row_no desc
    ) as per_day

),

active_assistance as (

    select
        registry_days.snapshot_date,
        assistance_versions.person_key,
        sum(assistance_versions.monthly_amount) as assistance_amount,
        string_agg(distinct assistance_versions.assistance_type, ',' order by assistance_versions.assistance_type)
            as assistance_types,
        bool_or(assistance_versions.assistance_type = '低保') as is_on_minimum_living_allowance
    from registry_days
    inner join assistance_versions
        on assistance_versions.delivery_date <= registry_days.snapshot_date
        and (
            assistance_versions.next_delivery_date is null
            or assistance_versions.next_delivery_date > registry_days.snapshot_date
        )
    where
        assistance_versions.is_active
        and (assistance_versions.start_date is null or assistance_versions.start_date <= registry_days.snapshot_date)
        and (assistance_versions.end_date is null or assistance_versions.end_date >= registry_days.snapshot_date)
    group by registry_days.snapshot_date, assistance_versions.person_key

),

pensions_then as (

    select distinct on (source_days.snapshot_date, pensions.person_key)
        source_days.snapshot_date,
        pensions.person_key,
        pensions.pension_monthly,
        pensions.medical_insurance_status,
        pensions.certification_date
    from source_days
    inner join pensions
        on source_days.pension_date = pensions.snapshot_date
    order by source_days.snapshot_date, pensions.person_key, pensions.batch_id, pensions.row_no

),

health_then as (

    select distinct on (source_days.snapshot_date, health.person_key)
        source_days.snapshot_date,
        health.person_key,
        health.community_code,
        health.has_chronic_disease,
        health.chronic_disease,
        health.has_family_doctor,
        health.elderly_checkup_date
    from source_days
    inner join health
        on source_days.health_date = health.snapshot_date
    order by source_days.snapshot_date, health.person_key, health.batch_id, health.row_no

),

disability_then as (

    select distinct on (source_days.snapshot_date, disability.person_key)
        source_days.snapshot_date,
        disability.person_key,
        disability.community_code,
        disability.disability_type,
        disability.disability_grade
    from source_days
    inner join disability
        on source_days.disability_date = disability.snapshot_date
    order by
        source_days.snapshot_date, disability.person_key, disability.disability_grade, disability.disability_card_no

),

merged as (

    select
        registry.person_key,
        registry.snapshot_date,
        registry.gender,
        registry.birth_date,
        registry.age,
        coalesce(registry.community_code, health_then.community_code, disability_then.community_code)
            as community_code,
        registry.grid_code,
        registry.household_id,
        registry.residence_type,
        registry.attention_level,
        registry.is_living_alone,
        active_assistance.person_key is not null as is_on_assistance,
        coalesce(active_assistance.is_on_minimum_living_allowance, false) as is_on_minimum_living_allowance,
        active_assistance.assistance_types,
        coalesce(active_assistance.assistance_amount, 0)::numeric(14, 2) as assistance_amount,
        pensions_then.pension_monthly,
        pensions_then.medical_insurance_status,
        pensions_then.certification_date,
        coalesce(health_then.has_chronic_disease, false) as has_chronic_disease,
        health_then.chronic_disease,
        coalesce(health_then.has_family_doctor, false) as has_family_doctor,
        health_then.elderly_checkup_date,
        disability_then.person_key is not null as has_disability,
        disability_then.disability_type,
        disability_then.disability_grade
    from registry
    left join active_assistance
        on registry.snapshot_date = active_assistance.snapshot_date
        and registry.person_key = active_assistance.person_key
    left join pensions_then
        on registry.snapshot_date = pensions_then.snapshot_date
        and registry.person_key = pensions_then.person_key
    left join health_then
        on registry.snapshot_date = health_then.snapshot_date
        and registry.person_key = health_then.person_key
    left join disability_then
        on registry.snapshot_date = disability_then.snapshot_date
        and registry.person_key = disability_then.person_key

),

final as (

    select * from merged

)

select * from final
