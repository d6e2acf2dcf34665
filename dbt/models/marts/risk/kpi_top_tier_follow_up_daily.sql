{# Follow-up of the top risk tier per community, street and district, for the run day (var ds):
   the residents the day's scoring put in the top tier, and those of them a grid worker was in
   contact with in the var('follow_up_days') days up to the day, as recorded by then. Built by
   the scoring DAG after it writes the tiers; formulas and the contact's definition in
   _risk__models.yml. A row per area with at least one top-tier resident. #}
with

tiers as (

    select * from {{ ref('stg_scoring__resident_tiers') }}
    where scored_date = {{ run_day() }}

),

incidents as (

    select * from {{ ref('fct_grid_incidents') }}

),

geography as (

    select * from {{ ref('dim_geography') }}

),

top_tier as (

    select
        scored_date,
        person_key,
        community_code
    from tiers
    where tier_rank = 1

),

contacts as (

    select distinct incidents.reporter_person_key as person_key
    from incidents
    where
        incidents.reporter_person_key is not null
        and incidents.dispatched_at is not null
        and incidents.first_delivered_date <= {{ run_day() }}
        and {{ local_date('incidents.dispatched_at') }}
        between {{ run_day() }} - {{ var('follow_up_days') }} + 1 and {{ run_day() }}

),

followed_up as (

    select
        top_tier.scored_date,
        top_tier.person_key,
        top_tier.community_code,
        geography.street_code,
        geography.district_code,
        contacts.person_key is not null as is_followed_up
    from top_tier
    inner join geography
        on top_tier.community_code = geography.community_code
    left join contacts
        on top_tier.person_key = contacts.person_key

),

aggregated as (

    select
        {{ area_level() }} as area_level,
        {{ area_code() }} as area_code,
        scored_date as kpi_date,
        count(*) as top_tier_residents,
        count(*) filter (where is_followed_up) as followed_up_residents,
        {{ safe_ratio('count(*) filter (where is_followed_up)', 'count(*)') }} as follow_up_share
    from followed_up
    {{ group_by_area('scored_date') }}

),

final as (

    select * from aggregated

)

select * from final
