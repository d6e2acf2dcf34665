{# Grid incident categories with their handling SLA (reference seed). #}
with

categories as (

    select * from {{ ref('incident_categories') }}

),

final as (

    select
        category,
        category_en,
        sla_hours
    from categories

)

select * from final
