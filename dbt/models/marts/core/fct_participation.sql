{# One row per 议事 / 志愿服务 participation record by activity day, with the matched resident
  . #}
with

records as (

    select * from {{ ref('int_participation_records_matched') }}

),

final as (

    select
        record_id,
        person_key,
        match_method,
        match_confidence,
        community_code,
        activity_type,
        activity_date,
        meeting_id,
        item_id,
        is_item_resolved,
        volunteer_hours,
        time_bank_points,
        delivery_date
    from records

)

select * from final
