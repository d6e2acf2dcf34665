{# One row per resident per snapshot day. Renames, casts and normalises only. #}
with

source as (

    select * from {{ source('population_registry', 'population_registry') }}

),

renamed as (

    select
        person_key::text as person_key,
        name as resident_name,
        gender,
        birth_date,
        phone,
        community_code,
        grid_code,
        household_id,
        residence_type,
        coalesce(attention_level, 0) as attention_level,
        coalesce(lives_alone, false) as is_living_alone,
        _ds as snapshot_date,
        _batch_id as batch_id,
        _row_no as row_no,
        _loaded_at as loaded_at
    from source

)

select * from renamed
