{# Feeds and usable deliveries: which staging days the warehouse builds from.

   feed_names(): the feeds (every dbt source but the pipeline's own `meta` and `audit`).
   is_usable_delivery(feed): a predicate on a staging model's `delivery_date` (or the given
   column): the feed's delivery of that day loaded and passed its fail-severity checks
   (int_feed_days_assessed). Rows of any other delivery (failed checks, a drifted file, a
   truncated snapshot) never reach a fact, so they cannot move a published number.
   warehouse_first_day(): the first day of the warehouse's calendar; KPI periods start there. #}

{% macro feed_names() -%}
    {%- set names = [] -%}
    {%- if not execute -%}{{ return(names) }}{%- endif -%}
    {%- for node in graph.sources.values() -%}
        {%- if node.source_name not in ('meta', 'audit') and node.source_name not in names -%}
            {%- do names.append(node.source_name) -%}
        {%- endif -%}
    {%- endfor -%}
    {{- return(names | sort) -}}
{%- endmacro %}

{% macro is_usable_delivery(feed, day_column='delivery_date') -%}
    {{ day_column }} in (
        select usable.delivery_date from {{ ref('int_feed_days_assessed') }} as usable
        where usable.feed = '{{ feed }}' and usable.is_usable
    )
{%- endmacro %}

{% macro warehouse_first_day() -%}
    (select min(calendar.delivery_date) from {{ ref('int_feed_days_assessed') }} as calendar)
{%- endmacro %}

{# CTE bodies for identity matching: `matching_snapshots` pairs each delivery day of the CTE
   `deliveries` with the latest usable registry snapshot on or before it (a usable registry day
   with rows), so a later snapshot never changes an earlier day's links. The registry's days come
   from int_feed_days_assessed and a probe of each day's partition, not from a scan of every
   snapshot. #}
{% macro matching_registry_snapshots(deliveries) -%}
registry_days as (

    select usable.delivery_date as snapshot_date
    from {{ ref('int_feed_days_assessed') }} as usable
    where
        usable.feed = 'population_registry'
        and usable.is_usable
        and usable.delivery_date <= (select max({{ deliveries }}.delivery_date) from {{ deliveries }})
        and {{ delivery_has_rows('stg_population_registry__residents', 'usable.delivery_date') }}

),

matching_snapshots as (

    select
        delivery_days.delivery_date,
        max(registry_days.snapshot_date) as snapshot_date
    from (select distinct {{ deliveries }}.delivery_date from {{ deliveries }}) as delivery_days
    inner join registry_days
        on registry_days.snapshot_date <= delivery_days.delivery_date
    group by delivery_days.delivery_date

)
{%- endmacro %}

{# A predicate: the staging model has a row of `day` (a snapshot model's snapshot_date). A scalar
   subquery with limit, not exists: the planner makes an exists a semi-join that reads every day's
   partition; this probes the one partition of `day` (run-time pruning) and stops at its first row. #}
{% macro delivery_has_rows(model, day) -%}
    coalesce((
        select true from {{ ref(model) }} as delivered
        where delivered.snapshot_date = {{ day }}
        limit 1
    ), false)
{%- endmacro %}
