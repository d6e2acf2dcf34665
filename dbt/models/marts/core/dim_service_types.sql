{# Services of the one-window service centre (reference seed). #}
with

service_types as (

    select * from {{ ref('service_types') }}

),

final as (

    select
        service_type,
        service_type_en,
        lead_department,
        is_social_assistance
    from service_types

)

select * from final
