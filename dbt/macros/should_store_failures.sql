{# Overrides dbt's global macro: failing rows of tests go to `dbt_test_failures` (dbt_project.yml
   data_tests), except for tests on sources: their rows are raw staging rows with personal data
   (names, ID numbers, phones), which must not be copied out of staging. #}
{% macro should_store_failures() %}
    {%- set configured = config.get('store_failures') -%}
    {%- if configured is none -%}
        {%- set configured = flags.STORE_FAILURES -%}
    {%- endif -%}
    {%- set on_source = namespace(found=false) -%}
    {%- for parent in model.depends_on.nodes -%}
        {%- if parent.startswith('source.') -%}
            {%- set on_source.found = true -%}
        {%- endif -%}
    {%- endfor -%}
    {%- do return(configured and not on_source.found) -%}
{% endmacro %}
