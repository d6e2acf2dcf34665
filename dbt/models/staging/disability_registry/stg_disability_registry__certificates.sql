{# Disability certificates (残疾人证) per snapshot day, pseudonymised. Renames, casts and normalises only. #}
with

source as (

    select * from {{ source('disability_registry', 'disability_registry') }}

),

renamed as (

    select
        disability_card_no,
        person_key::text as person_key,
        community_code,
        disability_type,
        disability_grade,
        issued_date,
        extract_date,
        _ds as snapshot_date,
        _batch_id as batch_id,
        _row_no as row_no,
        _loaded_at as loaded_at
    from source

)

select * from renamed
