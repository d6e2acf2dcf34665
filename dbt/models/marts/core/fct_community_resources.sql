{# Funds and staff per community per snapshot day, month to date. #}
with

resources as (

    select * from {{ ref('int_community_resources_pivoted') }}

),

final as (

    select
        community_code,
        snapshot_date,
        period_month,
        allocated_amount::numeric(14, 2) as allocated_amount,
        spent_amount::numeric(14, 2) as spent_amount,
        funded_projects::integer as funded_projects,
        staff::integer as staff,
        grid_workers::integer as grid_workers,
        monthly_salaries::numeric(14, 2) as monthly_salaries,
        training_hours::numeric(10, 1) as training_hours
    from resources

)

select * from final
