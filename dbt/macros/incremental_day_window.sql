{# Incremental strategy `day_window` (config: incremental_strategy='day_window', day_column=...).
   Deletes the target's rows whose `day_column` lies in the look-back window
   [run_day - lookback_days, run_day] and inserts the model's rows for that window, so a
   rerun of a day replaces exactly what it built, and a late row for a day inside the window
   lands on the next run. The model's SQL must select exactly that window when incremental. #}
{% macro get_incremental_day_window_sql(arg_dict) %}
    {%- set day_column = config.require('day_column') -%}
    {%- set columns = get_quoted_csv(arg_dict['dest_columns'] | map(attribute='name')) -%}
    delete from {{ arg_dict['target_relation'] }}
    where {{ day_column }} between {{ lookback_start() }} and {{ run_day() }};

    insert into {{ arg_dict['target_relation'] }} ({{ columns }})
    select {{ columns }} from {{ arg_dict['temp_relation'] }};
{% endmacro %}

{# The model-side half of `day_window`: restrict rows to the window on incremental runs. #}
{% macro in_day_window(day_expression) -%}
    {%- if is_incremental() -%}
        {{ day_expression }} between {{ lookback_start() }} and {{ run_day() }}
    {%- else -%}
        {{ day_expression }} <= {{ run_day() }}
    {%- endif -%}
{%- endmacro %}
