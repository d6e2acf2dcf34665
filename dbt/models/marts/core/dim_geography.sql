{# Administrative divisions district ▸ street ▸ community, with grid counts and the latest
   registered population. #}
with

geography as (

    select * from {{ ref('geography') }}

),

population as (

    select * from {{ ref('fct_community_population') }}

),

latest_population as (

    select community_code, residents
    from population
    where snapshot_date = (select max(snapshot_date) from population)

),

final as (

    select
        geography.community_code,
        geography.community_name,
        geography.street_code,
        geography.district_code,
        geography.district_name,
        geography.grid_count::integer as grid_count,
        coalesce(latest_population.residents, 0)::integer as residents
    from geography
    left join latest_population
        on geography.community_code = latest_population.community_code

)

select * from final
