{# The day of a timestamptz on the city's calendar: var('timezone') (dbt_project.yml), the one
   time-zone setting, which the Python side reads from there too (grassroots.settings.TIMEZONE). #}
{% macro local_date(timestamp) -%}
    ({{ timestamp }} at time zone '{{ var("timezone") }}')::date
{%- endmacro %}
