with

source as (

    select * from {{ source('pension_insurance', 'pension_insurance') }}

),

renamed as (

    select
        person_key,
        pension_monthly,
        medical_insurance_status,
        certification_date,
        _ds as snapshot_date,
        _batch_id as batch_id
    from source

)

select * from renamed
