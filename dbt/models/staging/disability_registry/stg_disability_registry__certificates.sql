{# Disability certificates (残疾人证) per snapshot day, pseudonymised. Renames, casts and normalises only. #}
with

source as (

    select * from {{ source('disability_registry', 'disability_registry') }}

),

batches as (

    select batch_id, file_name from {{ source('meta', 'load_batch') }}

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
        batches.file_name,
        _row_no as row_no,
        _loaded_at as loaded_at
    from source
    inner join batches on source._batch_id = batches.batch_id

)

select * from renamed
