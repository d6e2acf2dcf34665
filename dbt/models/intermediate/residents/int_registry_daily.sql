{# The population registry's residents per usable registry day, one row per person and day (the
   first record of a person in the day's snapshot). The registry alone: population counts read
   this, so a KPI's denominator depends on the registry's deliveries only (its publication
   lineage names population_registry, not the other departments int_residents_daily merges in).
   No names, phones, addresses or ID numbers.
   Incremental (day_window from the run day, or from an earlier registry day whose delivery changed
   since the last build): a day's rows read that day's delivery only, so a build reads the days it
   rebuilds, not the whole history. #}
{% set feeds = ['population_registry'] %}
{{ config(materialized='incremental', incremental_strategy='day_window', day_column='snapshot_date',
          input_feeds=feeds, post_hook="{{ day_window_remember_inputs(['population_registry']) }}",
          indexes=[{'columns': ['snapshot_date']}], on_schema_change='fail') }}
with

residents as (

    select * from {{ ref('stg_population_registry__residents') }}
    where
        {{ is_usable_delivery('population_registry', 'snapshot_date') }}
        {% if is_incremental() %}and snapshot_date >= {{ day_window_first_day(feeds) }}{% endif %}

),

deduplicated as (

    select distinct on (snapshot_date, person_key) *
    from residents
    order by snapshot_date, person_key, batch_id, row_no

),

final as (

    select
        person_key,
        snapshot_date,
        gender,
        birth_date,
        extract(year from age(snapshot_date, birth_date))::integer as age,
        community_code,
        grid_code,
        household_id,
        residence_type,
        attention_level,
        is_living_alone
    from deduplicated

)

select * from final
