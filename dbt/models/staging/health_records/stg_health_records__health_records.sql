{# Key-population health records per resident per snapshot day, pseudonymised. Renames, casts and normalises only. #}
with

source as (

    select * from {{ source('health_records', 'health_records') }}

),

renamed as (

    select
        person_key::text as person_key,
        community_code,
        chronic_disease,
        chronic_disease is not null as has_chronic_disease,
        elderly_checkup_date,
        coalesce(family_doctor_signed, false) as has_family_doctor,
        birth_registration_date,
        extract_date,
        _ds as snapshot_date,
        _batch_id as batch_id,
        _row_no as row_no,
        _loaded_at as loaded_at
    from source

)

select * from renamed
