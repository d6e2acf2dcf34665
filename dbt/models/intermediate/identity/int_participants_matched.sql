{# Community participation records carry no ID number: link each to a registry resident on
   name + birth date + phone, falling back to name + birth date, then birth date + phone.
   A rule links only when exactly one registry resident fits it (ambiguous keys stay unlinked). #}
with

participation as (

    select * from {{ ref('stg_community_participation__activities') }}

),

residents as (

    select * from {{ ref('stg_population_registry__residents') }}

),

registry as (

    select distinct on (person_key)
        person_key,
        resident_name,
        birth_date,
        phone
    from residents
    where snapshot_date <= {{ run_day() }}
    order by person_key, snapshot_date desc

),

by_name_birth_date_phone as (

    select
        resident_name,
        birth_date,
        phone,
        min(person_key) as person_key,
        count(*) as candidates
    from registry
    group by resident_name, birth_date, phone

),

by_name_birth_date as (

    select
        resident_name,
        birth_date,
        min(person_key) as person_key,
        count(*) as candidates
    from registry
    group by resident_name, birth_date

),

by_birth_date_phone as (

    select
        birth_date,
        phone,
        min(person_key) as person_key,
        count(*) as candidates
    from registry
    group by birth_date, phone

),

matched as (

    select
        participation.record_id,
        participation.delivery_date,
        participation.file_name,
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
    left join by_name_birth_date_phone as full_match
        on participation.participant_name = full_match.resident_name
        and participation.birth_date = full_match.birth_date
        and participation.phone = full_match.phone
    left join by_name_birth_date as name_birth_match
        on participation.participant_name = name_birth_match.resident_name
        and participation.birth_date = name_birth_match.birth_date
    left join by_birth_date_phone as birth_phone_match
        on participation.birth_date = birth_phone_match.birth_date
        and participation.phone = birth_phone_match.phone

),

final as (

    select * from matched

)

select * from final
