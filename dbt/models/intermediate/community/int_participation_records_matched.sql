{# 议事 and 志愿服务 participation records with the resident each is linked to
   (int_participants_matched); the latest version of each record over every usable delivery. #}
with

activities as (

    select * from {{ ref('stg_community_participation__activities') }}
    where {{ is_usable_delivery('community_participation') }}

),

participants as (

    select * from {{ ref('int_participants_matched') }}

),

latest as (

    select distinct on (record_id) *
    from activities
    order by record_id, delivery_date desc, batch_id desc

),

final as (

    select
        latest.record_id,
        participants.person_key,
        participants.match_method,
        participants.match_confidence,
        latest.community_code,
        latest.activity_type,
        latest.activity_date,
        latest.meeting_id,
        latest.item_id,
        latest.is_item_resolved,
        latest.volunteer_hours,
        latest.time_bank_points,
        latest.delivery_date
    from latest
    left join participants
        on latest.record_id = participants.record_id
        and latest.delivery_date = participants.delivery_date

)

select * from final
