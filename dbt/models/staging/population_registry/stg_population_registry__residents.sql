with

source as (

    select * from {{ source('population_registry', 'population_registry') }}

),

renamed as (

    select
        person_key,
        gender,
        birth_date,
        community_code,
        grid_code,
        household_id,
        residence_type,
        coalesce(attention_level, 0) as attention_level,
        coalesce(lives_alone, false) as is_living_alone,
        _ds as snapshot_date,
        _batch_id as batch_id
    from source

)

select * from renamed
