{# Community participation records carry no ID number: link each to a registry resident on
   name + birth date + phone, falling back to name + birth date, then birth date + phone.
   A rule links only when exactly one registry resident fits it (ambiguous keys stay unlinked).
   Incremental (day_window): a build matches the delivery days from the run day on (or from the
   first day of a registry or community_participation delivery that changed since the last build), reading
   only the registry snapshots those days match against. #}
{% set feeds = ['population_registry', 'community_participation'] %}
{{ config(materialized='incremental', incremental_strategy='day_window', day_column='delivery_date',
          input_feeds=feeds, post_hook="{{ day_window_remember_inputs(['population_registry', 'community_participation']) }}",
          indexes=[{'columns': ['delivery_date']}], on_schema_change='fail') }}
with

participation as (

    select * from {{ ref('stg_community_participation__activities') }}
    {% if is_incremental() %}where delivery_date >= {{ day_window_first_day(feeds) }}{% endif %}

),

residents as (

    select * from {{ ref('stg_population_registry__residents') }}
    where {{ is_usable_delivery('population_registry', 'snapshot_date') }}

),

{# Each delivery day is matched against the registry as it stood then: the latest usable
   snapshot on or before it, so a later snapshot never changes an earlier day's links. #}
{{ matching_registry_snapshots('participation') }},

registry as (

    select distinct on (snapshot_date, person_key)
        snapshot_date,
        person_key,
        resident_name,
        birth_date,
        phone
    from residents
    where
        snapshot_date in (select matching_snapshots.snapshot_date from matching_snapshots)
        and snapshot_date >= (select min(matching_snapshots.snapshot_date) from matching_snapshots)
    order by snapshot_date, person_key, batch_id, row_no

),

by_name_birth_date_phone as (

    select
        snapshot_date,
        resident_name,
        birth_date,
        phone,
        min(person_key) as person_key,
        count(*) as candidates
    from registry
    group by snapshot_date, resident_name, birth_date, phone

),

by_name_birth_date as (

    select
        snapshot_date,
        resident_name,
        birth_date,
        min(person_key) as person_key,
        count(*) as candidates
    from registry
    group by snapshot_date, resident_name, birth_date

),

by_birth_date_phone as (

    select
        snapshot_date,
        birth_date,
        phone,
        min(person_key) as person_key,
        count(*) as candidates
    from registry
    group by snapshot_date, birth_date, phone

),

matched as (

    select
        participation.record_id,
        participation.delivery_date,
        participation.batch_id,
        participation.row_no,
        case
            when full_match.candidates = 1 then full_match.person_key
            when name_birth_match.candidates = 1 then name_birth_match.person_key
            when birth_phone_match.candidates = 1 then birth_phone_match.person_key
        end as person_key,
        case
            when full_match.candidates = 1 then 'name_birth_date_phone'
            when name_birth_match.candidates = 1 then 'name_birth_date'
            when birth_phone_match.candidates = 1 then 'birth_date_phone'
            else 'unmatched'
        end as match_method,
        case
            when full_match.candidates = 1 then 1.00
            when name_birth_match.candidates = 1 then 0.90
            when birth_phone_match.candidates = 1 then 0.85
            else 0.00
        end::numeric(3, 2) as match_confidence
    from participation
    left join matching_snapshots
        on participation.delivery_date = matching_snapshots.delivery_date
    left join by_name_birth_date_phone as full_match
        on matching_snapshots.snapshot_date = full_match.snapshot_date
        and participation.participant_name = full_match.resident_name
        and participation.birth_date = full_match.birth_date
        and participation.phone = full_match.phone
    left join by_name_birth_date as name_birth_match
        on matching_snapshots.snapshot_date = name_birth_match.snapshot_date
        and participation.participant_name = name_birth_match.resident_name
        and participation.birth_date = name_birth_match.birth_date
    left join by_birth_date_phone as birth_phone_match
        on matching_snapshots.snapshot_date = birth_phone_match.snapshot_date
        and participation.birth_date = birth_phone_match.birth_date
        and participation.phone = birth_phone_match.phone

),

final as (

    select * from matched

)

select * from final
