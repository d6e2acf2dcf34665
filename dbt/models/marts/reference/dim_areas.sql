{# Every area a KPI row can be about, at its level (community, street, district), with its
   Chinese name and the names of the areas above it: BI joins a KPI table on
   (area_level, area_code). Reference data from dim_geography, no personal data. #}
with

geography as (

    select * from {{ ref('dim_geography') }}

),

communities as (

    select
        'community' as area_level,
        community_code as area_code,
        community_name as area_name,
        district_code,
        district_name,
        street_code,
        street_name
    from geography

),

streets as (

    select distinct
        'street' as area_level,
        street_code as area_code,
        street_name as area_name,
        district_code,
        district_name,
        street_code,
        street_name
    from geography

),

districts as (

    select distinct
        'district' as area_level,
        district_code as area_code,
        district_name as area_name,
        district_code,
        district_name,
        null::text as street_code,
        null::text as street_name
    from geography

),

final as (

    select * from districts
    union all
    select * from streets
    union all
    select * from communities

)

select * from final
