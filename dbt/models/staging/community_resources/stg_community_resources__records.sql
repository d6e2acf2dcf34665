{# Community funds (经费) and staff (人员) rows per snapshot day (month to date). Renames, casts and normalises only. #}
with

source as (

    select * from {{ source('community_resources', 'community_resources') }}

),

renamed as (

    select
        record_type,
        community_code,
        period_month,
        project_name,
        allocated_amount,
        spent_amount,
        staff_id,
        staff_role,
        monthly_salary,
        training_hours,
        extract_date,
        _ds as snapshot_date,
        _batch_id as batch_id,
        _row_no as row_no,
        _loaded_at as loaded_at
    from source

)

select * from renamed
