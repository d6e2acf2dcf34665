{# The population registry's residents per usable registry day, one row per person and day (the
   first record of a person in the day's snapshot). The registry alone: population counts read
   this, so a KPI's denominator depends on the registry's deliveries only (its publication
   lineage names population_registry, not the other departments int_residents_daily merges in).
   No names, phones, addresses or ID numbers. #}
with

residents as (

    select * from {{ ref('stg_population_registry__residents') }}
    where {{ is_usable_delivery('population_registry', 'snapshot_date') }}

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
