{# Calendar days 2020-01-01 to 2030-12-31 (Asia/Shanghai calendar). #}
with

days as (

    select generated_day::date as date_day
    from generate_series(date '2020-01-01', date '2030-12-31', interval '1 day') as generated_day

),

final as (

    select
        date_day,
        date_trunc('month', date_day)::date as month_start_date,
        extract(year from date_day)::integer as year_number,
        extract(month from date_day)::integer as month_number,
        extract(day from date_day)::integer as day_of_month,
        extract(isodow from date_day)::integer as iso_day_of_week,
        extract(isodow from date_day) in (6, 7) as is_weekend
    from days

)

select * from final
