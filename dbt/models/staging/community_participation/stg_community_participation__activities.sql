{# 居民议事厅 and 时间银行 participation records as delivered. Renames, casts and normalises only. #}
with

source as (

    select * from {{ source('community_participation', 'community_participation') }}

),

renamed as (

    select
        record_id,
        community_code,
        activity_type,
        activity_date,
        meeting_id,
        item_id,
        item_resolved as is_item_resolved,
        volunteer_hours,
        time_bank_points,
        name as participant_name,
        birth_date,
        phone,
        _ds as delivery_date,
        _batch_id as batch_id,
        _row_no as row_no,
        _loaded_at as loaded_at
    from source

)

select * from renamed
