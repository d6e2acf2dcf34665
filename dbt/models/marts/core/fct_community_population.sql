{# Registered population per community per registry snapshot day: the resident denominator of
   the KPIs (incremental strategy day_window). #}
{{ config(materialized='incremental', incremental_strategy='day_window', day_column='snapshot_date',
          on_schema_change='fail') }}
with

residents as (

    select * from {{ ref('stg_population_registry__residents') }}

),

geography as (

    select * from {{ ref('geography') }}

),

counted as (

    select
        community_code,
        snapshot_date,
        count(distinct person_key) as residents,
        count(distinct person_key) filter (where extract(year from age(snapshot_date, birth_date)) >= 60)
            as residents_aged_60_plus
    from residents
    where {{ in_day_window('snapshot_date') }}
    group by community_code, snapshot_date

),

days as (

    select distinct snapshot_date from counted

),

final as (

    select
        geography.community_code,
        days.snapshot_date,
        coalesce(counted.residents, 0)::integer as residents,
        coalesce(counted.residents_aged_60_plus, 0)::integer as residents_aged_60_plus
    from geography
    cross join days
    left join counted
        on geography.community_code = counted.community_code
        and days.snapshot_date = counted.snapshot_date

)

select * from final
