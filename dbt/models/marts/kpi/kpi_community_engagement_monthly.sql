{# 参与率、协商事项解决率 per community, street and district per month; formulas in _kpi__models.yml.
   A row for every community, street and district and every period with a registry snapshot or an
   event (the spine), zeros where nothing happened; residents of a period are the registered
   population of the latest snapshot on or before its last day, and its participants are those
   residents (in that snapshot, counted in the community it registers them in) with a 议事 or
   volunteering record in the period: the numerator is a subset of the denominator. A record not
   linked to a registered resident counts for items and hours, not as a participant. #}
with

participation as (

    select * from {{ ref('fct_participation') }}
    where activity_date >= {{ warehouse_first_day() }}

),

population as (

    select * from {{ ref('fct_community_population') }}

),

registry as (

    select * from {{ ref('int_registry_daily') }}

),

geography as (

    select * from {{ ref('dim_geography') }}

),

periods as (

    select date_trunc('month', snapshot_date)::date as period_start from population
    union
    select date_trunc('month', activity_date)::date from participation

),

spine as (

    select
        geography.community_code,
        geography.street_code,
        geography.district_code,
        periods.period_start,
        population_then.residents
    from geography
    cross join periods
    left join lateral (
        select population.residents
        from population
        where
            population.community_code = geography.community_code
            and population.snapshot_date <= (periods.period_start + interval '1 month - 1 day')::date
        order by population.snapshot_date desc
        limit 1
    ) as population_then on true

),

{# The period's participants: each linked person of the period, looked up in the registry
   snapshot the period's residents come from (the latest on or before its last day, found once
   per period). #}
participant_periods as (

    select distinct
        date_trunc('month', activity_date)::date as period_start,
        person_key
    from participation
    where person_key is not null

),

period_snapshots as (

    select
        periods.period_start,
        (
            select max(population.snapshot_date)
            from population
            where population.snapshot_date <= (periods.period_start + interval '1 month - 1 day')::date
        ) as snapshot_date
    from (select distinct participant_periods.period_start from participant_periods) as periods

),

participants as (

    select
        registry.community_code,
        participant_periods.period_start,
        count(distinct participant_periods.person_key) as participants
    from participant_periods
    inner join period_snapshots
        on participant_periods.period_start = period_snapshots.period_start
    inner join registry
        on participant_periods.person_key = registry.person_key
        and period_snapshots.snapshot_date = registry.snapshot_date
    group by registry.community_code, participant_periods.period_start

),

activity_counts as (

    select
        community_code,
        date_trunc('month', activity_date)::date as period_start,
        count(distinct item_id) as items_raised,
        count(distinct item_id) filter (where is_item_resolved) as items_resolved,
        coalesce(sum(volunteer_hours), 0) as volunteer_hours
    from participation
    group by 1, 2

),

per_community as (

    select
        spine.community_code,
        spine.street_code,
        spine.district_code,
        spine.period_start,
        spine.residents,
        coalesce(participants.participants, 0) as participants,
        coalesce(activity_counts.items_raised, 0) as items_raised,
        coalesce(activity_counts.items_resolved, 0) as items_resolved,
        coalesce(activity_counts.volunteer_hours, 0) as volunteer_hours
    from spine
    left join participants
        on spine.community_code = participants.community_code
        and spine.period_start = participants.period_start
    left join activity_counts
        on spine.community_code = activity_counts.community_code
        and spine.period_start = activity_counts.period_start

),

aggregated as (

    select
        {{ area_level() }} as area_level,
        {{ area_code() }} as area_code,
        period_start as kpi_month,
        sum(participants)::bigint as participants,
        sum(residents)::bigint as residents,
        {{ safe_ratio('sum(participants)', 'sum(residents)') }} as participation_rate,
        sum(items_raised)::bigint as items_raised,
        sum(items_resolved)::bigint as items_resolved,
        {{ safe_ratio('sum(items_resolved)', 'sum(items_raised)') }} as deliberation_resolution_rate,
        sum(volunteer_hours)::numeric(14, 2) as volunteer_hours
    from per_community
    {{ group_by_area('period_start') }}

),

final as (

    select * from aggregated

)

select * from final
