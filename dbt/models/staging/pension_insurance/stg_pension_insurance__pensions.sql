{# Pension and medical insurance status per insured resident per snapshot day. Renames, casts and normalises only. #}
with

source as (

    select * from {{ source('pension_insurance', 'pension_insurance') }}

),

renamed as (

    select
        person_key::text as person_key,
        pension_monthly,
        medical_insurance_status,
        certification_date,
        extract_date,
        _ds as snapshot_date,
        _batch_id as batch_id,
        _row_no as row_no,
        _loaded_at as loaded_at
    from source

)

select * from renamed
