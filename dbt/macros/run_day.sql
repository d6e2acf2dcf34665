{# The partition day of this run: var('ds') as a date literal. Only models that describe the
   warehouse as of a day (fct_resident_features) use it; every other model is built from all
   usable deliveries, so the build does not depend on which day runs it. #}
{% macro run_day() -%}
    {%- if execute and not var('ds') -%}
        {{ exceptions.raise_compiler_error("var 'ds' (the partition day, YYYY-MM-DD) is required") }}
    {%- endif -%}
    date '{{ var("ds") }}'
{%- endmacro %}
