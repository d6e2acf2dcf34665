with

source as (

    select * from {{ source('social_assistance', 'social_assistance') }}

),

renamed as (

    select
        assistance_id,
        person_key,
        assistance_type,
        status = '在保' as is_active,
        monthly_amount,
        household_size,
        start_date,
        end_date,
        _ds as delivery_date,
        _batch_id as batch_id
    from source

)

select * from renamed
