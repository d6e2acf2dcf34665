{# Follow-up of the top risk tier per community, street and district, for each scored day: the
   residents the day's scoring put in the top tier, and those of them a grid worker was in
   contact with in the var('follow_up_days') days up to the day, as recorded by then. Built by
   the scoring DAG after it writes the tiers: a day's build computes the run day; a first or full
   build every scored day up to it (so a rebuild, e.g. after the table's columns change, keeps
   the earlier days). Formulas and the contact's definition in _risk__models.yml. A row per area
   and day with at least one top-tier resident. #}
with

tiers as (

    select * from {{ ref('stg_scoring__resident_tiers') }}
    where scored_date {% if is_incremental() %}= {% else %}<= {% endif %}{{ run_day() }}

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

{# A top-tier resident's contacts of the day: dispatches in the window up to the scored day,
   first delivered by then. #}
contacts as (

    select distinct
        top_tier.scored_date,
        top_tier.person_key
    from top_tier
    inner join incidents
        on top_tier.person_key = incidents.reporter_person_key
    where
        incidents.dispatched_at is not null
        and incidents.first_delivered_date <= top_tier.scored_date
        and {{ local_date('incidents.dispatched_at') }}
        between top_tier.scored_date - {{ var('follow_up_days') }} + 1 and top_tier.scored_date

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
        on top_tier.scored_date = contacts.scored_date
        and top_tier.person_key = contacts.person_key

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
