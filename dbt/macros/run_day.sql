{# The partition day of this run as a date literal, from the environment variable GRASSROOTS_DS
   (set by grassroots.warehouse.dbt_runner.invoke, the one place that runs dbt). An environment variable, not
   a --vars value: dbt re-parses the whole project when --vars changes, only the files that read
   an environment variable when it changes. Without a day, parsing fails here, loudly.
   Only what describes the warehouse as of a day (fct_resident_features, the sources' freshness)
   uses it; every other model is built from all usable deliveries, whichever day runs it. #}
{% macro run_day() -%}
    {%- set ds = env_var('GRASSROOTS_DS', '') -%}
    {%- if not modules.re.match('^[0-9]{4}-[0-9]{2}-[0-9]{2}$', ds) -%}
        {{ exceptions.raise_compiler_error(
            "GRASSROOTS_DS (the partition day, YYYY-MM-DD) is required, got '" ~ ds ~ "': "
            ~ "run dbt through grassroots.warehouse.dbt_runner.invoke, which sets it") }}
    {%- endif -%}
    date '{{ ds }}'
{%- endmacro %}
