{# Incremental strategy `day_window` (config: incremental_strategy='day_window', day_column=...,
   lookback_days=N). Deletes the target's rows whose `day_column` lies in
   [run_day - lookback_days, run_day] and inserts the model's rows, so a rerun of a day replaces
   exactly what it built. The model's SQL must select exactly that window. #}
{% macro get_incremental_day_window_sql(arg_dict) %}
    {%- set day_column = config.require('day_column') -%}
    {%- set lookback_days = config.require('lookback_days') -%}
    {%- set columns = get_quoted_csv(arg_dict['dest_columns'] | map(attribute='name')) -%}
    delete from {{ arg_dict['target_relation'] }}
    where {{ day_column }} between {{ run_day() }} - {{ lookback_days }} and {{ run_day() }};

    insert into {{ arg_dict['target_relation'] }} ({{ columns }})
    select {{ columns }} from {{ arg_dict['temp_relation'] }};
{% endmacro %}
