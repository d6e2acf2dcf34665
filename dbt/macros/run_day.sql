{# The partition day of this run: var('ds') as a date literal, else the latest loaded day. #}
{% macro run_day() -%}
    {%- if var('ds') -%}date '{{ var("ds") }}'{%- else -%}(select max(_ds) from {{ source('population_registry', 'population_registry') }}){%- endif -%}
{%- endmacro %}
