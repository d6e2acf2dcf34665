{# One row per check of a suite evaluation. Renames only. #}
with

source as (

    select * from {{ source('audit', 'check_result') }}

),

renamed as (

    select
        validation_id,
        check_id,
        engine as check_engine,
        column_name,
        severity,
        success as is_success,
        observed_value,
        detail
    from source

)

select * from renamed
