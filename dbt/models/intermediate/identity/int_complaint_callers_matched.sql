{# Hotline callers: the person_key of the ID number they gave, else the one registry resident
   whose phone is the calling number (ambiguous or unknown numbers stay unlinked). #}
with

complaints as (

    select * from {{ ref('stg_hotline_complaints__complaints') }}

),

residents as (

    select * from {{ ref('stg_population_registry__residents') }}

),

registry as (

    select distinct on (person_key)
        person_key,
        phone
    from residents
    where snapshot_date <= {{ run_day() }}
    order by person_key, snapshot_date desc

),

by_phone as (

    select
        phone,
        min(person_key) as person_key,
        count(*) as candidates
    from registry
    where phone is not null
    group by phone

),

matched as (

    select
        complaints.complaint_id,
        complaints.delivery_date,
        complaints.file_name,
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
    left join by_phone
        on complaints.caller_phone = by_phone.phone

),

final as (

    select * from matched

)

select * from final
