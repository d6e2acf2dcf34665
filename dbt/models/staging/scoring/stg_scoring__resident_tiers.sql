{# Each scored day's risk tier per resident. Renames only; scores and reasons stay in scoring. #}
with

source as (

    select * from {{ source('scoring', 'resident_tiers') }}

),

renamed as (

    select
        ds as scored_date,
        person_key,
        community_code,
        grid_code,
        risk_tier,
        tier_rank
    from source

)

select * from renamed
