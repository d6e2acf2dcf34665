{# Administrative divisions district ▸ street ▸ community with grid counts: reference data from
   the geography seed alone, the only model that reads it. KPI models join it for a community's
   street and district; population lives in fct_community_population, so a held registry day
   holds only the KPIs that count residents. #}
with

geography as (

    select * from {{ ref('geography') }}

),

final as (

    select
        community_code,
        community_name,
        street_code,
        street_name,
        district_code,
        district_name,
        grid_count::integer as grid_count
    from geography

)

select * from final
