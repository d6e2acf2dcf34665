{# Late rows: events may reach the warehouse up to `lookback_days` after their day
   (the departments' contracts allow three). Incremental facts rebuild this window. #}
{% macro lookback_start() -%}
    ({{ run_day() }} - {{ var('lookback_days') }})
{%- endmacro %}
