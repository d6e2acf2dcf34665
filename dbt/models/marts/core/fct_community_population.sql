{# Registered population per community per usable registry day: the resident denominator of
   the KPIs, from the registry alone (int_registry_daily). #}
with

residents as (

    select * from {{ ref('int_registry_daily') }}

),

geography as (

    select * from {{ ref('dim_geography') }}

),

counted as (

    select
        community_code,
        snapshot_date,
        count(distinct person_key) as residents,
        count(distinct person_key) filter (where age >= 60)
            as residents_aged_60_plus
    from residents
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
