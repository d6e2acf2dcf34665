{# Assistance cases (低保/特困/临时救助) as delivered, one row per case per delivery day, pseudonymised. Renames, casts and normalises only. #}
with

source as (

    select * from {{ source('social_assistance', 'social_assistance') }}

),

renamed as (

    select
        assistance_id,
        person_key::text as person_key,
        assistance_type,
        status as assistance_status,
        status = '在保' as is_active,
        monthly_amount,
        household_size,
        start_date,
        end_date,
        extract_date,
        _ds as delivery_date,
        _batch_id as batch_id,
        _row_no as row_no,
        _loaded_at as loaded_at
    from source

)

select * from renamed
