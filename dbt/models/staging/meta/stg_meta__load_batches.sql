{# The load ledger, one row per delivered file and load attempt. Renames only. #}
with

source as (

    select * from {{ source('meta', 'load_batch') }}

),

renamed as (

    select
        batch_id,
        feed,
        ds as delivery_date,
        file_name,
        sha256,
        rows_received,
        rows_loaded,
        rows_quarantined,
        status as batch_status,
        rule as batch_rule,
        loaded_at,
        key_version
    from source

)

select * from renamed
