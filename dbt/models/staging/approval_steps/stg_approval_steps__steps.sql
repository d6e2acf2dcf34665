{# Parallel approval steps per case and department as delivered. Renames, casts and normalises only. #}
with

source as (

    select * from {{ source('approval_steps', 'approval_steps') }}

),

renamed as (

    select
        case_id,
        step_no,
        department,
        started_at,
        finished_at,
        coalesce(result, '办理中') as step_result,
        _ds as delivery_date,
        _batch_id as batch_id,
        _row_no as row_no,
        _loaded_at as loaded_at
    from source

)

select * from renamed
