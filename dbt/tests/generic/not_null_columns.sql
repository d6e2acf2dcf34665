{#- The not-null columns of a model (source, seed) in one test: a row per column that has nulls,
    with how many rows have it null; the test fails with the count of null values.

    One test node per model instead of one per column: dbt's fixed cost per node (~40 ms of
    compiling, events and a failures table) made the ~210 per-column tests a quarter of a small
    day's build, while each reads its table once either way. Primary-key and unique columns keep
    dbt's own `not_null` beside `unique`, the pair that marks a primary key. -#}
{% test not_null_columns(model, columns) %}
{{ config(fail_calc="coalesce(sum(null_rows), 0)") }}

select per_column.column_name, per_column.null_rows
from (
    select
    {%- for column in columns %}
        count(*) filter (where {{ column }} is null) as nulls_{{ loop.index }}{{ "," if not loop.last }}
    {%- endfor %}
    from {{ model }}
) as counted
cross join lateral (
    values
    {%- for column in columns %}
        ('{{ column }}', counted.nulls_{{ loop.index }}){{ "," if not loop.last }}
    {%- endfor %}
) as per_column (column_name, null_rows)
where per_column.null_rows > 0

{% endtest %}
