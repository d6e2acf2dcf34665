{# Funds and staff per community per snapshot day (month to date), from the daily re-sent
   monthly resources feed. #}
with

resources as (

    select * from {{ ref('stg_community_resources__records') }}
    where {{ is_usable_delivery('community_resources', 'snapshot_date') }}

),

{# One row per record of the contract's primary key and snapshot day: a record delivered twice in
   a day (a re-sent file with other line endings, say) counts once. #}
records as (

    select distinct on (snapshot_date, record_type, community_code, period_month, project_name, staff_id) *
    from resources
    order by snapshot_date, record_type, community_code, period_month, project_name, staff_id, batch_id, row_no

),

per_community_day as (

    select
        community_code,
        snapshot_date,
        max(period_month) as period_month,
        coalesce(sum(allocated_amount) filter (where record_type = '经费'), 0) as allocated_amount,
        coalesce(sum(spent_amount) filter (where record_type = '经费'), 0) as spent_amount,
        count(*) filter (where record_type = '经费') as funded_projects,
        count(distinct staff_id) filter (where record_type = '人员') as staff,
        count(distinct staff_id) filter (where record_type = '人员' and staff_role = '网格员') as grid_workers,
        coalesce(sum(monthly_salary) filter (where record_type = '人员'), 0) as monthly_salaries,
        coalesce(sum(training_hours) filter (where record_type = '人员'), 0) as training_hours
    from records
    group by community_code, snapshot_date

),

final as (

    select * from per_community_day

)

select * from final
