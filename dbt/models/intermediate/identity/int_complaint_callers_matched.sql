{# Hotline callers: the person_key of the ID number they gave, else the one registry resident
   whose phone is the calling number (ambiguous or unknown numbers stay unlinked).
   Incremental (day_window): a build matches the delivery days from the run day on (or from the
   first day of a registry or hotline_complaints delivery that changed since the last build), reading
   only the registry snapshots those days match against. #}
{% set feeds = ['population_registry', 'hotline_complaints'] %}
{{ config(materialized='incremental', incremental_strategy='day_window', day_column='delivery_date',
          input_feeds=feeds, post_hook="{{ day_window_remember_inputs(['population_registry', 'hotline_complaints']) }}",
          indexes=[{'columns': ['delivery_date']}], on_schema_change='fail') }}
with

complaints as (

    select * from {{ ref('stg_hotline_complaints__complaints') }}
    {% if is_incremental() %}where delivery_date >= {{ day_window_first_day(feeds) }}{% endif %}

),

residents as (

    select * from {{ ref('stg_population_registry__residents') }}
    where {{ is_usable_delivery('population_registry', 'snapshot_date') }}

),

{# Each delivery day is matched against the registry as it stood then: the latest usable
   snapshot on or before it, so a later snapshot never changes an earlier day's links. #}
{{ matching_registry_snapshots('complaints') }},

by_phone as (

    select
        residents.snapshot_date,
        residents.phone,
        min(residents.person_key) as person_key,
        count(distinct residents.person_key) as candidates
    from residents
    where
        residents.phone is not null
        and residents.snapshot_date in (select matching_snapshots.snapshot_date from matching_snapshots)
        and residents.snapshot_date >= (select min(matching_snapshots.snapshot_date) from matching_snapshots)
    group by residents.snapshot_date, residents.phone

),

matched as (

    select
        complaints.complaint_id,
        complaints.delivery_date,
        complaints.batch_id,
        complaints.row_no,
        case
            when complaints.caller_person_key is not null then complaints.caller_person_key
            when by_phone.candidates = 1 then by_phone.person_key
        end as person_key,
        case
            when complaints.caller_person_key is not null then 'id_number'
            when by_phone.candidates = 1 then 'phone'
            else 'unmatched'
        end as match_method,
        case
            when complaints.caller_person_key is not null then 1.00
            when by_phone.candidates = 1 then 0.80
            else 0.00
        end::numeric(3, 2) as match_confidence
    from complaints
    left join matching_snapshots
        on complaints.delivery_date = matching_snapshots.delivery_date
    left join by_phone
        on matching_snapshots.snapshot_date = by_phone.snapshot_date
        and complaints.caller_phone = by_phone.phone

),

final as (

    select * from matched

)

select * from final
